package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"pochta/internal/acmecert/pebbletest"
	"pochta/internal/config"
	"pochta/internal/dnstest"
)

// TestACMECertificateServed: with [tls] acme against pebble, pochta gets
// a certificate for its hostname and mta-sts.DOMAIN (HTTP-01 on its http
// listener) and serves it on IMAPS and submissions.
func TestACMECertificateServed(t *testing.T) {
	d := dnstest.Start(t, dnstest.Zone{
		"mx.example.test":      {A: []string{"127.0.0.1"}},
		"mta-sts.example.test": {A: []string{"127.0.0.1"}},
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
	for _, n := range []string{"mx.example.test", "mta-sts.example.test"} {
		if err := leaf.VerifyHostname(n); err != nil {
			t.Fatal(err)
		}
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
}
