package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"pochta/internal/acmecert/pebbletest"
	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/dns"
	"pochta/internal/dnstest"
	"pochta/internal/scram/scramtest"
)

// TestACMECertificateServed: with [tls] acme against pebble, pochta gets
// a certificate for its hostname, mail.DOMAIN and mta-sts.DOMAIN (HTTP-01
// on its http listener; autoconfig.DOMAIN, whose DNS points elsewhere,
// is left out without failing the others) and serves it on IMAPS and
// submissions.
func TestACMECertificateServed(t *testing.T) {
	d := dnstest.Start(t, dnstest.Zone{
		"mx.example.test":         {A: []string{"127.0.0.1"}},
		"mail.example.test":       {A: []string{"127.0.0.1"}},
		"mta-sts.example.test":    {A: []string{"127.0.0.1"}},
		"autoconfig.example.test": {A: []string{"127.0.0.2"}},
	})
	httpPort, tlsPort := pebbletest.FreePort(t), pebbletest.FreePort(t)
	p := pebbletest.Start(t, httpPort, tlsPort, d.Addr())
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.Listen.HTTP = []string{fmt.Sprintf("127.0.0.1:%d", httpPort)}
		c.Listen.IMAPS = []string{fmt.Sprintf("127.0.0.1:%d", tlsPort)}
		c.DNS.Servers = []string{d.Addr()}
		c.TLS.ACME = true
		c.TLS.ACMEDirectory = p.Directory
		c.TLS.ACMECAFile = p.CAFile
		c.TLS.ACMEEmail = "postmaster@example.test"
	})
	for i := 0; a.ACME.Current() == nil; i++ {
		if i == 600 {
			t.Fatal("no certificate from pebble within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The domain was added after the server started, so the first
	// certificate may lack mta-sts.example.test; the periodic check
	// (Manager.due) renews for a missing name — do it now.
	if a.ACME.Current().Leaf.VerifyHostname("mta-sts.example.test") != nil {
		if err := a.ACME.Renew(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	leaf := a.ACME.Current().Leaf
	for _, n := range []string{"mx.example.test", "mail.example.test", "mta-sts.example.test"} {
		if err := leaf.VerifyHostname(n); err != nil {
			t.Fatal(err)
		}
	}
	if leaf.VerifyHostname("autoconfig.example.test") == nil {
		t.Fatal("certificate for a name whose DNS points elsewhere")
	}
	for _, svc := range []string{"imaps", "submissions"} {
		c, err := tls.Dial("tcp", a.Addrs()[svc][0], &tls.Config{InsecureSkipVerify: true, ServerName: "mx.example.test"})
		if err != nil {
			t.Fatal(svc, err)
		}
		var got *x509.Certificate = c.ConnectionState().PeerCertificates[0]
		c.Close()
		if !bytes.Equal(got.Raw, leaf.Raw) {
			t.Fatalf("%s serves %v (issuer %v), not the ACME certificate", svc, got.Subject, got.Issuer)
		}
	}
	scramPlusWithACME(t, a)
}

// scramPlusWithACME: SCRAM-SHA-256-PLUS over IMAPS serving the ACME
// certificate, with both channel-binding types an independent client
// (xdg-go/scram) computes from its side: tls-server-end-point hashes the
// ACME certificate the server sent.
func scramPlusWithACME(t *testing.T, a *App) {
	ctx := context.Background()
	acct, err := a.Store.GetAccount(ctx, "kate@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.SetSCRAMKeys(ctx, a.Store, acct.Address, acct.PasswordHash, "pw"); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"tls-server-end-point", "tls-exporter"} {
		tc, err := tls.Dial("tcp", a.Addrs()["imaps"][0], &tls.Config{InsecureSkipVerify: true, ServerName: "mx.example.test"})
		if err != nil {
			t.Fatal(err)
		}
		cs := tc.ConnectionState()
		if !bytes.Equal(cs.PeerCertificates[0].Raw, a.ACME.Current().Leaf.Raw) {
			t.Fatal("IMAPS does not serve the ACME certificate")
		}
		c := imapclient.New(tc, nil)
		if err := c.WaitGreeting(); err != nil {
			t.Fatal(err)
		}
		sc := scramtest.New(t, "kate@example.test", "pw", scramtest.Binding{Type: typ, Conn: &cs})
		if err := c.Authenticate(sc); err != nil || !sc.Valid() {
			t.Fatalf("SCRAM-SHA-256-PLUS %s with the ACME certificate: %v (server signature valid: %v)", typ, err, sc.Valid())
		}
		c.Close()
	}
}

// TestACMENames: the certificate's names are the hostname, then each
// [tls] acme_domain_names label before each domain when it resolves; a
// domain added while the server runs is in the next list.
func TestACMENames(t *testing.T) {
	d := dnstest.Start(t, dnstest.Zone{
		"mail.example.test":    {A: []string{"127.0.0.1"}},
		"mta-sts.example.test": {A: []string{"127.0.0.1"}},
		"mta-sts.other.test":   {A: []string{"127.0.0.1"}},
		"mail.other.test":      {A: []string{"127.0.0.1"}},
	})
	var cfg *config.Config
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.DNS.Servers = []string{d.Addr()}
		cfg = c
	})
	names := acmeNames(cfg, a.Store, dns.New(cfg.DNS.Servers, time.Second), slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if got := strings.Join(names(ctx), " "); got != "mx.example.test mail.example.test mta-sts.example.test" {
		t.Fatalf("names %q", got)
	}
	if err := a.Store.AddDomain(ctx, "other.test"); err != nil { // as `pochta domain add` does
		t.Fatal(err)
	}
	got := names(ctx)
	slices.Sort(got[1:])
	if s := strings.Join(got, " "); s != "mx.example.test mail.example.test mail.other.test mta-sts.example.test mta-sts.other.test" {
		t.Fatalf("names after a domain was added %q", s)
	}
	cfg.TLS.ACMEDomainNames = []string{"mta-sts"}
	if got := strings.Join(names(ctx), " "); got != "mx.example.test mta-sts.example.test mta-sts.other.test" {
		t.Fatalf("names with acme_domain_names = [\"mta-sts\"]: %q", got)
	}
}
