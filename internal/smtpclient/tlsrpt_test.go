package smtpclient_test

import (
	"testing"
	"time"

	"pochta/internal/dnstest"
	"pochta/internal/envelope"
	"pochta/internal/tlsrpt"
)

// TestTLSReportSessions: sessions reach the TLS-RPT recorder with their
// policy: an MX outside an enforced MTA-STS policy is a failure, the
// verified one a success; a DANE-verified session a "tlsa" success.
func TestTLSReportSessions(t *testing.T) {
	cert, pool := selfSigned(t, "mx1.example.org", "mx2.example.org")
	f, _ := stsFixture(t, "version: STSv1\nmode: enforce\nmx: mx2.example.org\nmax_age: 86400\n", &cert)
	f.opts.RootCAs = pool
	rec := tlsrpt.NewRecorder(nil)
	f.opts.OnTLSSession = rec.Add
	allNil(t, deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg))
	reps := rec.Take(time.Now(), "org", "contact")
	p := reps["example.org"].Policies
	if len(p) != 1 || p[0].Policy.Type != "sts" || p[0].Summary != (tlsrpt.Summary{Success: 1, Failure: 1}) ||
		p[0].FailureDetails[0].ResultType != "validation-failure" || p[0].FailureDetails[0].ReceivingMX != "mx1.example.org" ||
		len(p[0].Policy.String) != 4 || p[0].Policy.MXHost[0] != "mx2.example.org" {
		t.Fatalf("sts report %+v", reps)
	}

	g, dcert, _ := daneFixture(t, true)
	g.setTLSA(dnstest.Records{TLSA: []dnstest.TLSA{spkiTLSA(dcert)}, AD: true})
	g.opts.OnTLSSession = rec.Add
	allNil(t, deliver(t, g.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg))
	p = rec.Take(time.Now(), "org", "contact")["example.org"].Policies
	if len(p) != 1 || p[0].Policy.Type != "tlsa" || p[0].Summary != (tlsrpt.Summary{Success: 1}) || len(p[0].Policy.String) != 1 {
		t.Fatalf("tlsa report %+v", p)
	}
}
