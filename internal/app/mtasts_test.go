package app

import (
	"context"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"pochta/internal/config"
	"pochta/internal/dns"
	"pochta/internal/dnstest"
	"pochta/internal/mtasts"
	"pochta/internal/tlscert"
)

// TestServeMTASTSPolicy: the http listener serves our MTA-STS policy for
// Host mta-sts.DOMAIN of a served domain (any port), and nothing for
// other names; the policy is the one `pochta dns records` announces.
func TestServeMTASTSPolicy(t *testing.T) {
	a := startApp(t)
	addr := a.Addrs()["http"][0]
	get := func(host string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+addr+"/.well-known/mta-sts.txt", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := get("mta-sts.example.test:8443")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p, err := mtasts.Parse(body)
	if err != nil {
		t.Fatalf("%v in %q", err, body)
	}
	if p.Mode != "testing" || !p.Matches("mx.example.test") || len(p.MX) != 1 {
		t.Fatalf("policy %+v", p)
	}
	if want := mtasts.Published("testing", "mx.example.test"); p.ID() != want.ID() {
		t.Fatalf("served policy differs from the announced one:\n%s", body)
	}
	for _, host := range []string{"mta-sts.other.test", "example.test", "www.example.test"} {
		if resp, _ := get(host); resp.StatusCode != 404 {
			t.Errorf("Host %s: %d", host, resp.StatusCode)
		}
	}
}

// TestMTASTSOverHTTPS: a real MTA-STS client (mtasts.Finder: TXT record,
// verified HTTPS) fetches the policy from the https listener, with the
// record `pochta dns records` prints.
func TestMTASTSOverHTTPS(t *testing.T) {
	certDir := t.TempDir()
	tc, err := tlscert.Load("", "", "mta-sts.example.test", certDir)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.Listen.HTTPS = []string{"127.0.0.1:0"}
		c.TLS.CertFile = filepath.Join(certDir, "tls", "selfsigned.crt")
		c.TLS.KeyFile = filepath.Join(certDir, "tls", "selfsigned.key")
		c.TLS.MTASTSMode = "enforce"
	})
	_, port, _ := net.SplitHostPort(a.Addrs()["https"][0])
	n, _ := strconv.Atoi(port)
	d := dnstest.Start(t, dnstest.Zone{
		"_mta-sts.example.test": {TXT: []string{mtasts.Published("enforce", "mx.example.test").Record()}},
		"mta-sts.example.test":  {A: []string{"127.0.0.1"}},
	})
	f := mtasts.NewFinder(mtasts.Options{Resolver: dns.New([]string{d.Addr()}, 2*time.Second), RootCAs: roots, Port: n})
	p := f.Find(context.Background(), "example.test")
	if p == nil || p.Mode != "enforce" || !p.Matches("mx.example.test") || p.Matches("other.example.test") {
		t.Fatalf("policy %+v", p)
	}
}
