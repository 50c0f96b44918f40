package smtpclient_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"pochta/internal/dns"
	"pochta/internal/dnstest"
	"pochta/internal/envelope"
	"pochta/internal/mtasts"
	"pochta/internal/reply"
	"pochta/internal/smtpclient"
)

// failures collects what OnTLSFailure reports.
type failures struct {
	mu   sync.Mutex
	list []smtpclient.TLSFailure
}

func (f *failures) add(x smtpclient.TLSFailure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, x)
}

func (f *failures) results() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, x := range f.list {
		out = append(out, x.Host+" "+x.Mode+" "+x.Result)
	}
	return out
}

// stsFixture: example.org's MX hosts (127.0.0.2, 127.0.0.3) offer
// STARTTLS with mxCert, and example.org publishes policy over HTTPS on
// loopback (mta-sts.example.org → 127.0.0.1) with its own test CA.
func stsFixture(t *testing.T, policy string, mxCert *tls.Certificate) (*fixture, *failures) {
	t.Helper()
	f := setup(t, []string{"127.0.0.2", "127.0.0.3"}, func(_ string, s *smtp.Server) {
		if mxCert != nil {
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*mxCert}}
		}
	})
	webCert, webPool := selfSigned(t, "mta-sts.example.org")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/mta-sts.txt" || !strings.HasPrefix(r.Host, "mta-sts.example.org") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(policy))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{webCert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	f.dns.Set("_mta-sts.example.org", dnstest.Records{TXT: []string{"v=STSv1; id=20260101"}})
	f.dns.Set("mta-sts.example.org", dnstest.Records{A: []string{"127.0.0.1"}})
	fails := &failures{}
	f.opts.MTASTS = mtasts.NewFinder(mtasts.Options{
		Resolver: dns.New([]string{f.dns.Addr()}, 2*time.Second),
		RootCAs:  webPool,
		Port:     port,
		Timeout:  5 * time.Second,
	})
	f.opts.OnTLSFailure = fails.add
	return f, fails
}

// deferred delivers one message and checks it was deferred (451) with
// enhanced code and a reason containing text, and that nothing arrived.
func deferred(t *testing.T, f *fixture, enhanced, text string) *reply.Error {
	t.Helper()
	res := deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg)
	re := wantReply(t, res[0], 451, enhanced)
	if !strings.Contains(re.Text, text) {
		t.Fatalf("reason %q, want %q", re.Text, text)
	}
	if len(f.be.messages()) != 0 {
		t.Fatalf("delivered: %+v", f.be.messages())
	}
	return re
}

// TestMTASTSEnforceSkipsUnlistedMX: mx1 (preference 10) is not in the
// enforced policy, so the mail goes to mx2 over verified TLS.
func TestMTASTSEnforceSkipsUnlistedMX(t *testing.T) {
	cert, pool := selfSigned(t, "mx1.example.org", "mx2.example.org")
	f, fails := stsFixture(t, "version: STSv1\r\nmode: enforce\r\nmx: mx2.example.org\r\nmax_age: 86400\r\n", &cert)
	f.opts.RootCAs = pool
	allNil(t, deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg))
	m := f.be.messages()
	if len(m) != 1 || m[0].host != "127.0.0.3" || !m[0].tls {
		t.Fatalf("got %+v", m)
	}
	if got := fails.results(); len(got) != 1 || got[0] != "mx1.example.org enforce validation-failure" {
		t.Fatalf("failures %v", got)
	}
}

// TestMTASTSEnforceNoMatchingMX: no MX host matches: deferred, reason given.
func TestMTASTSEnforceNoMatchingMX(t *testing.T) {
	f, _ := stsFixture(t, "version: STSv1\nmode: enforce\nmx: *.elsewhere.test\nmax_age: 86400\n", nil)
	deferred(t, f, "4.7.5", "MTA-STS policy of example.org (enforce) matches none")
}

// TestMTASTSEnforceBadCertificate: a certificate not valid for the MX
// name defers the message with the reason, nothing is sent.
func TestMTASTSEnforceBadCertificate(t *testing.T) {
	cert, pool := selfSigned(t, "other.example.net")
	f, fails := stsFixture(t, "version: STSv1\nmode: enforce\nmx: *.example.org\nmax_age: 86400\n", &cert)
	f.opts.RootCAs = pool
	re := deferred(t, f, "4.7.5", "MTA-STS policy of example.org (enforce): certificate of mx")
	if !strings.Contains(re.Text, "is not valid: x509: certificate is valid for other.example.net") {
		t.Fatalf("reason %q", re.Text)
	}
	for _, r := range fails.results() {
		if !strings.HasSuffix(r, "enforce certificate-host-mismatch") {
			t.Fatalf("failures %v", fails.results())
		}
	}
}

// TestMTASTSTestingDeliversAndRecords: under "testing" an untrusted
// certificate is reported and the mail delivered anyway.
func TestMTASTSTestingDeliversAndRecords(t *testing.T) {
	cert, _ := selfSigned(t, "mx1.example.org", "mx2.example.org")
	f, fails := stsFixture(t, "version: STSv1\nmode: testing\nmx: *.example.org\nmax_age: 86400\n", &cert)
	allNil(t, deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg))
	if m := f.be.messages(); len(m) != 1 || !m[0].tls {
		t.Fatalf("got %+v", m)
	}
	if got := fails.results(); len(got) != 1 || !strings.HasSuffix(got[0], "testing certificate-not-trusted") {
		t.Fatalf("failures %v", got)
	}
}

// TestMTASTSEnforceStrippedSTARTTLS: the peer does not offer STARTTLS
// (as after an attacker stripped it): deferred, never sent in clear.
func TestMTASTSEnforceStrippedSTARTTLS(t *testing.T) {
	f, fails := stsFixture(t, "version: STSv1\nmode: enforce\nmx: *.example.org\nmax_age: 86400\n", nil)
	deferred(t, f, "4.7.10", "MTA-STS policy of example.org (enforce) requires TLS but mx")
	if got := fails.results(); len(got) == 0 || !strings.HasSuffix(got[0], "starttls-not-supported") {
		t.Fatalf("failures %v", got)
	}
}
