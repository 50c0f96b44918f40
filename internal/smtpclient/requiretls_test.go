package smtpclient_test

import (
	"crypto/tls"
	"testing"

	"github.com/emersion/go-smtp"

	"pochta/internal/dnstest"
	"pochta/internal/envelope"
	"pochta/internal/reply"
)

// requireTLSFixture: mx1 offers STARTTLS (and REQUIRETLS when
// advertise), DANE on; dane publishes an authenticated matching TLSA
// record for mx1.
func requireTLSFixture(t *testing.T, advertise, dane bool) *fixture {
	t.Helper()
	cert, _ := selfSigned(t, "mx1.example.org")
	f := setup(t, []string{"127.0.0.2"}, func(_ string, s *smtp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.EnableREQUIRETLS = advertise
	})
	f.opts.DANE = true
	if dane {
		f.setTLSA(dnstest.Records{TLSA: []dnstest.TLSA{spkiTLSA(cert)}, AD: true})
	}
	return f
}

var requireTLSEnv = envelope.Envelope{From: "a@sender.test", RequireTLS: true}

// TestREQUIRETLSValidated: DANE-validated TLS to a peer offering
// REQUIRETLS: delivered, with REQUIRETLS on MAIL FROM.
func TestREQUIRETLSValidated(t *testing.T) {
	f := requireTLSFixture(t, true, true)
	allNil(t, deliver(t, f.opts, "example.org", requireTLSEnv, rcpts("b@example.org"), msg))
	m := f.be.messages()
	if len(m) != 1 || !m[0].tls || !m[0].mailOpts.RequireTLS {
		t.Fatalf("got %+v", m)
	}
}

// TestREQUIRETLSUnvalidatedBounces: TLS is offered but nothing validates
// it (no DANE, no MTA-STS): refused permanently, so the queue bounces it.
func TestREQUIRETLSUnvalidatedBounces(t *testing.T) {
	f := requireTLSFixture(t, true, false)
	res := deliver(t, f.opts, "example.org", requireTLSEnv, rcpts("b@example.org"), msg)
	if re := wantReply(t, res[0], 550, "5.7.30"); re.Temporary() {
		t.Fatal("temporary")
	}
	if len(f.be.messages()) != 0 {
		t.Fatal("delivered")
	}
}

// TestREQUIRETLSNotOffered: validated TLS but the peer does not offer
// REQUIRETLS: bounced.
func TestREQUIRETLSNotOffered(t *testing.T) {
	f := requireTLSFixture(t, false, true)
	res := deliver(t, f.opts, "example.org", requireTLSEnv, rcpts("b@example.org"), msg)
	wantReply(t, res[0], 550, "5.7.30")
	if len(f.be.messages()) != 0 {
		t.Fatal("delivered")
	}
}

// TestTLSRequiredNo: "TLS-Required: No" delivers despite a mismatching
// authenticated TLSA record and an enforced MTA-STS policy that the
// certificate fails; without the header both defer.
func TestTLSRequiredNo(t *testing.T) {
	bad, _ := selfSigned(t, "elsewhere.test")
	f, _ := stsFixture(t, "version: STSv1\nmode: enforce\nmx: *.example.org\nmax_age: 86400\n", &bad)
	f.opts.DANE = true
	other, _ := selfSigned(t, "mx1.example.org")
	f.setTLSA(dnstest.Records{TLSA: []dnstest.TLSA{spkiTLSA(other)}, AD: true})
	env := envelope.Envelope{From: "a@sender.test"}
	res := deliver(t, f.opts, "example.org", env, rcpts("b@example.org"), msg)
	if re, _ := reply.As(res[0]); re == nil || !re.Temporary() {
		t.Fatalf("without TLS-Required: No: %v", res[0])
	}
	allNil(t, deliver(t, f.opts, "example.org", env, rcpts("b@example.org"), "TLS-Required: No\r\n"+msg))
	if len(f.be.messages()) != 1 {
		t.Fatalf("got %+v", f.be.messages())
	}
	// REQUIRETLS wins over the header (RFC 8689 §4.1).
	env.RequireTLS = true
	res = deliver(t, f.opts, "example.org", env, rcpts("b@example.org"), "TLS-Required: No\r\n"+msg)
	if res[0] == nil || len(f.be.messages()) != 1 {
		t.Fatalf("REQUIRETLS message delivered: %v", res[0])
	}
}
