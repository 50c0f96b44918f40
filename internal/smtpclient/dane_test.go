package smtpclient_test

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"pochta/internal/dnstest"
	"pochta/internal/envelope"
)

// daneFixture: mx1.example.org (127.0.0.2) offers STARTTLS with a
// self-signed certificate (no Web PKI trust at all), or no STARTTLS when
// cert is nil; DANE is on.
func daneFixture(t *testing.T, withTLS bool) (*fixture, tls.Certificate, *failures) {
	t.Helper()
	cert, _ := selfSigned(t, "mx1.example.org")
	f := setup(t, []string{"127.0.0.2"}, func(_ string, s *smtp.Server) {
		if withTLS {
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		}
	})
	fails := &failures{}
	f.opts.DANE = true
	f.opts.OnTLSFailure = fails.add
	return f, cert, fails
}

func spkiTLSA(cert tls.Certificate) dnstest.TLSA {
	sum := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
	return dnstest.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: hex.EncodeToString(sum[:])}
}

// setTLSA serves r as mx1.example.org's TLSA records, and example.org's
// MX answer as DNSSEC-authenticated (RFC 7672 §2.2.1: DANE applies only
// to MX hosts named by a secure MX answer).
func (f *fixture) setTLSA(r dnstest.Records) {
	f.dns.Set(fmt.Sprintf("_%d._tcp.mx1.example.org", f.port), r)
	f.setMX(true)
}

// setMX serves example.org's MX records with or without the AD bit.
func (f *fixture) setMX(secure bool) {
	f.dns.Set("example.org", dnstest.Records{MX: []dnstest.MX{{Host: "mx1.example.org", Pref: 10}, {Host: "mx2.example.org", Pref: 20}}, AD: secure})
}

// TestDANEInsecureMX: authenticated TLSA records that do not match, but
// the MX answer that named the host was not authenticated: DANE does not
// apply (an attacker could have named the host), delivery stays
// opportunistic.
func TestDANEInsecureMX(t *testing.T) {
	f, _, _ := daneFixture(t, true)
	other, _ := selfSigned(t, "other.test")
	f.setTLSA(dnstest.Records{TLSA: []dnstest.TLSA{spkiTLSA(other)}, AD: true})
	f.setMX(false)
	allNil(t, deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg))
}

// TestDANEMatchingDelivers: an authenticated DANE-EE record matching the
// key authenticates a self-signed certificate.
func TestDANEMatchingDelivers(t *testing.T) {
	f, cert, fails := daneFixture(t, true)
	f.setTLSA(dnstest.Records{TLSA: []dnstest.TLSA{spkiTLSA(cert)}, AD: true})
	allNil(t, deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg))
	if m := f.be.messages(); len(m) != 1 || !m[0].tls {
		t.Fatalf("got %+v", m)
	}
	if got := fails.results(); len(got) != 0 {
		t.Fatalf("failures %v", got)
	}
}

// TestDANEMismatchDefers: an authenticated record for another key defers.
func TestDANEMismatchDefers(t *testing.T) {
	f, _, fails := daneFixture(t, true)
	other, _ := selfSigned(t, "mx1.example.org")
	f.setTLSA(dnstest.Records{TLSA: []dnstest.TLSA{spkiTLSA(other)}, AD: true})
	deferred(t, f, "4.7.5", "DANE: certificate of mx1.example.org does not match its TLSA records")
	if got := fails.results(); len(got) != 1 || got[0] != "mx1.example.org enforce validation-failure" {
		t.Fatalf("failures %v", got)
	}
}

// TestDANEWithoutADIgnored: the same mismatching records without the AD
// bit are not trusted: opportunistic TLS as without DANE.
func TestDANEWithoutADIgnored(t *testing.T) {
	f, _, _ := daneFixture(t, true)
	other, _ := selfSigned(t, "mx1.example.org")
	f.setTLSA(dnstest.Records{TLSA: []dnstest.TLSA{spkiTLSA(other)}})
	allNil(t, deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg))
}

// TestDANENoTLSAOpportunistic: no TLSA records: a peer without STARTTLS
// still gets the mail, as today.
func TestDANENoTLSAOpportunistic(t *testing.T) {
	f, _, _ := daneFixture(t, false)
	allNil(t, deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg))
	if m := f.be.messages(); len(m) != 1 || m[0].tls {
		t.Fatalf("got %+v", m)
	}
}

// TestDANELookupFailureDefers: SERVFAIL on the TLSA name defers; it is
// never read as "no records".
func TestDANELookupFailureDefers(t *testing.T) {
	f, _, _ := daneFixture(t, false)
	f.setTLSA(dnstest.Records{Fail: true})
	re := deferred(t, f, "4.7.5", "DANE: TLSA lookup of _")
	if !strings.Contains(re.Text, "mx1.example.org failed") {
		t.Fatalf("reason %q", re.Text)
	}
}

// TestDANEStrippedSTARTTLS: authenticated records but the peer offers no
// STARTTLS (stripped): deferred, nothing sent in clear.
func TestDANEStrippedSTARTTLS(t *testing.T) {
	f, cert, _ := daneFixture(t, false)
	f.setTLSA(dnstest.Records{TLSA: []dnstest.TLSA{spkiTLSA(cert)}, AD: true})
	deferred(t, f, "4.7.10", "DANE: TLSA records of mx1.example.org require TLS")
}
