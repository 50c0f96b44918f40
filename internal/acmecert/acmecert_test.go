package acmecert_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"pochta/internal/acmecert"
	"pochta/internal/dnstest"
	"pochta/internal/tlscert"
)

// pebble is Debian's ACME test CA running on loopback.
type pebble struct {
	cmd       *exec.Cmd
	directory string
	roots     *x509.CertPool
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startPebble runs pebble with its API on a loopback port (certificate
// from a test CA), validating challenges on httpPort and tlsPort of
// 127.0.0.1, names resolved by dnsAddr.
func startPebble(t *testing.T, httpPort, tlsPort int, dnsAddr string) *pebble {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		t.Fatal("pebble is not installed (Debian package pebble): ", err)
	}
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble API test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certFile := write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyFile := write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	api, mgmt := freePort(t), freePort(t)
	conf := write("pebble.json", fmt.Appendf(nil, `{"pebble": {"listenAddress": "127.0.0.1:%d", "managementListenAddress": "127.0.0.1:%d",
		"certificate": %q, "privateKey": %q, "httpPort": %d, "tlsPort": %d, "ocspResponderURL": "", "externalAccountBindingRequired": false}}`,
		api, mgmt, certFile, keyFile, httpPort, tlsPort))
	cmd := exec.Command(bin, "-config", conf, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pebble{cmd: cmd, directory: fmt.Sprintf("https://127.0.0.1:%d/dir", api), roots: x509.NewCertPool()}
	p.roots.AddCert(ca)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("pebble output:\n%s", out.String())
		}
	})
	// Wait (bounded) until the directory answers.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots}}, Timeout: time.Second}
	for i := 0; ; i++ {
		resp, err := client.Get(p.directory)
		if err == nil {
			resp.Body.Close()
			return p
		}
		if i == 100 {
			t.Fatalf("pebble did not start: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *pebble) stop() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// served is the leaf certificate served on addr.
func served(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// TestACMEWithPebble: a certificate is obtained with HTTP-01 and with
// TLS-ALPN-01, served on the TLS listener, renewed with the same key,
// and, with the CA gone, the old one keeps serving.
func TestACMEWithPebble(t *testing.T) {
	names := []string{"mail.example.test", "mta-sts.example.test"}
	d := dnstest.Start(t, dnstest.Zone{
		"mail.example.test":    {A: []string{"127.0.0.1"}},
		"mta-sts.example.test": {A: []string{"127.0.0.1"}},
	})
	httpL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := startPebble(t, httpL.Addr().(*net.TCPAddr).Port, tlsL.Addr().(*net.TCPAddr).Port, d.Addr())

	dataDir := t.TempDir()
	newManager := func(noHTTP bool, renewBefore time.Duration) *acmecert.Manager {
		m, err := acmecert.New(acmecert.Options{
			Directory: p.directory, Email: "postmaster@example.test", RootCAs: p.roots,
			RenewBefore: renewBefore, Dir: filepath.Join(dataDir, "acme"), NoHTTP01: noHTTP, CheckInterval: 500 * time.Millisecond,
			Names:  func(context.Context) []string { return names },
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := newManager(false, 720*time.Hour)
	// Before any ACME certificate: the fallback (self-signed) serves.
	base, err := tlscert.Load("", "", "mail.example.test", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	var current atomic.Pointer[acmecert.Manager] // the manager the listeners use
	current.Store(m)
	httpSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { current.Load().HTTPHandler().ServeHTTP(w, r) })}
	go httpSrv.Serve(httpL)
	t.Cleanup(func() { httpSrv.Close() })
	tlsCfg := func() *tls.Config { return current.Load().TLSConfig(base) }
	go func() {
		for {
			c, err := tlsL.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, tlsCfg())
				tc.SetDeadline(time.Now().Add(5 * time.Second))
				if tc.Handshake() == nil {
					tc.Write([]byte("* OK\r\n"))
				}
			}()
		}
	}()
	t.Cleanup(func() { tlsL.Close() })
	addr := tlsL.Addr().String()
	if got := served(t, addr); !bytes.Equal(got.Raw, base.Certificates[0].Certificate[0]) {
		t.Fatal("fallback certificate not served")
	}

	ctx := context.Background()
	// HTTP-01.
	if err := m.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	first := m.Current().Leaf
	if got := served(t, addr); !bytes.Equal(got.Raw, first.Raw) || got.VerifyHostname("mta-sts.example.test") != nil {
		t.Fatalf("served %v, want the ACME certificate", got.Subject)
	}
	// TLS-ALPN-01 (a second manager on the same folder keeps the keys).
	m2 := newManager(true, 720*time.Hour)
	if !bytes.Equal(m2.Current().Leaf.Raw, first.Raw) {
		t.Fatal("certificate not reloaded from the folder")
	}
	current.Store(m2)
	if err := m2.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	second := m2.Current().Leaf
	if bytes.Equal(second.Raw, first.Raw) || !bytes.Equal(second.RawSubjectPublicKeyInfo, first.RawSubjectPublicKeyInfo) {
		t.Fatal("renewal did not give a new certificate for the same key")
	}
	if got := served(t, addr); !bytes.Equal(got.Raw, second.Raw) {
		t.Fatal("renewed certificate not served")
	}
	// Run renews by itself when acme_renew_before exceeds the lifetime.
	m3 := newManager(false, 100*365*24*time.Hour)
	current.Store(m3)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); m3.Run(runCtx) }()
	for i := 0; bytes.Equal(m3.Current().Leaf.Raw, second.Raw); i++ {
		if i == 300 {
			t.Fatal("no renewal within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
	second = m3.Current().Leaf
	// The CA goes away: renewal fails, the old certificate stays.
	p.stop()
	if err := m3.Renew(ctx); err == nil {
		t.Fatal("renewal without a CA succeeded")
	}
	if got := served(t, addr); !bytes.Equal(got.Raw, second.Raw) {
		t.Fatal("certificate lost after a failed renewal")
	}
}
