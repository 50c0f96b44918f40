package smtpclient_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"pochta/internal/config"
	"pochta/internal/dns"
	"pochta/internal/dnstest"
	"pochta/internal/envelope"
	"pochta/internal/reply"
	"pochta/internal/smtpclient"
)

const msg = "From: a@sender.test\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nHello.\r\n.hidden dot line\r\n"

// zone: example.org has two MX hosts, mx1 (10) on 127.0.0.2 and mx2 (20)
// on 127.0.0.3.
func zone() dnstest.Zone {
	return dnstest.Zone{
		"example.org":     {MX: []dnstest.MX{{Host: "mx1.example.org", Pref: 10}, {Host: "mx2.example.org", Pref: 20}}},
		"mx1.example.org": {A: []string{"127.0.0.2"}},
		"mx2.example.org": {A: []string{"127.0.0.3"}},
		"equal.test": {MX: []dnstest.MX{
			{Host: "e2.equal.test", Pref: 5}, {Host: "e3.equal.test", Pref: 5}, {Host: "e4.equal.test", Pref: 5},
		}},
		"e2.equal.test": {A: []string{"127.0.0.2"}},
		"e3.equal.test": {A: []string{"127.0.0.3"}},
		"e4.equal.test": {A: []string{"127.0.0.4"}},
		"noMX.test":     {A: []string{"127.0.0.2"}},
		"null.test":     {MX: []dnstest.MX{{Host: ".", Pref: 0}}},
		"broken.test":   {Fail: true},
		"dangling.test": {MX: []dnstest.MX{{Host: "gone.dangling.test", Pref: 10}}},
	}
}

type fixture struct {
	dns  *dnstest.Server
	be   *backend
	port int
	opts smtpclient.Options
}

func setup(t *testing.T, hosts []string, configure func(host string, s *smtp.Server)) *fixture {
	t.Helper()
	f := &fixture{dns: dnstest.Start(t, zone()), be: newBackend()}
	f.port = servers(t, f.be, hosts, configure)
	f.opts = smtpclient.Options{
		Hostname:       "pochta.test",
		Resolver:       dns.New([]string{f.dns.Addr()}, 2*time.Second),
		Port:           f.port,
		ConnectTimeout: 5 * time.Second,
		CommandTimeout: 10 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	return f
}

func rcpts(addrs ...string) []envelope.Recipient {
	out := make([]envelope.Recipient, len(addrs))
	for i, a := range addrs {
		out[i] = envelope.Recipient{Address: a}
	}
	return out
}

func deliver(t *testing.T, opts smtpclient.Options, domain string, env envelope.Envelope, rs []envelope.Recipient, content string) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := smtpclient.New(opts).Deliver(ctx, domain, env, rs, []byte(content))
	if len(res) != len(rs) {
		t.Fatalf("%d results for %d recipients", len(res), len(rs))
	}
	return res
}

// wantReply checks err is a *reply.Error with code and enhanced code.
func wantReply(t *testing.T, err error, code int, enhanced string) *reply.Error {
	t.Helper()
	re, ok := reply.As(err)
	if !ok {
		t.Fatalf("got %v, want a *reply.Error %d %s", err, code, enhanced)
	}
	if re.Code != code || re.Enhanced != enhanced {
		t.Fatalf("got %v, want %d %s", re, code, enhanced)
	}
	return re
}

func allNil(t *testing.T, res []error) {
	t.Helper()
	for i, err := range res {
		if err != nil {
			t.Fatalf("recipient %d: %v", i, err)
		}
	}
}

func TestDeliverToFirstMX(t *testing.T) {
	f := setup(t, []string{"127.0.0.2", "127.0.0.3"}, nil)
	env := envelope.Envelope{From: "a@sender.test"}
	res := deliver(t, f.opts, "example.org", env, rcpts("b@example.org", "c@example.org"), msg)
	allNil(t, res)
	msgs := f.be.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.host != "127.0.0.2" || m.from != "a@sender.test" || !slices.Equal(m.rcpts, []string{"b@example.org", "c@example.org"}) {
		t.Fatalf("got %+v", m)
	}
	if string(m.data) != msg {
		t.Fatalf("data %q", m.data)
	}
	if m.mailOpts.Size != int64(len(msg)) {
		t.Fatalf("SIZE=%d", m.mailOpts.Size)
	}
	if m.mailOpts.Body == smtp.Body8BitMIME {
		t.Fatal("7-bit message sent as 8BITMIME")
	}
}

func TestBareLFAnd8bit(t *testing.T) {
	f := setup(t, []string{"127.0.0.2"}, nil)
	content := "Subject: caf\xc3\xa9\n\nline\n"
	res := deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), content)
	allNil(t, res)
	m := f.be.messages()[0]
	if string(m.data) != strings.ReplaceAll(content, "\n", "\r\n") {
		t.Fatalf("data %q", m.data)
	}
	if m.mailOpts.Body != smtp.Body8BitMIME {
		t.Fatalf("BODY=%q", m.mailOpts.Body)
	}
}

// TestFirstMXDown: nothing listens on mx1's address, so mx2 gets it.
func TestFirstMXDown(t *testing.T) {
	f := setup(t, []string{"127.0.0.3"}, nil)
	res := deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg)
	allNil(t, res)
	if m := f.be.messages(); len(m) != 1 || m[0].host != "127.0.0.3" {
		t.Fatalf("got %+v", m)
	}
}

// TestFirstMXRefusesAtEHLO: a 451 at EHLO moves on to the next host.
func TestFirstMXRefusesAtEHLO(t *testing.T) {
	f := setup(t, []string{"127.0.0.2", "127.0.0.3"}, nil)
	f.be.refuse["127.0.0.2"] = true
	res := deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg)
	allNil(t, res)
	if m := f.be.messages(); len(m) != 1 || m[0].host != "127.0.0.3" {
		t.Fatalf("got %+v", m)
	}
	// Both refusing: the remote's temporary reply is the result.
	f.be.refuse["127.0.0.3"] = true
	res = deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg)
	re := wantReply(t, res[0], 451, "4.0.0")
	if !re.Temporary() {
		t.Fatal("not temporary")
	}
}

func TestAllHostsDown(t *testing.T) {
	f := setup(t, []string{"127.0.0.9"}, nil)
	res := deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org", "c@example.org"), msg)
	for _, err := range res {
		re := wantReply(t, err, 451, "4.4.1")
		if !re.Temporary() || !strings.Contains(re.Text, "mx2.example.org") {
			t.Fatalf("got %v", re)
		}
	}
}

// TestEqualPreference: hosts of equal preference are shuffled, and none
// is lost: with only one of three up, every delivery still succeeds, and
// with all up, deliveries spread over more than one host.
func TestEqualPreference(t *testing.T) {
	f := setup(t, []string{"127.0.0.4"}, nil)
	for i := range 8 {
		res := deliver(t, f.opts, "equal.test", envelope.Envelope{From: "a@sender.test"}, rcpts("b@equal.test"), msg)
		if res[0] != nil {
			t.Fatalf("delivery %d: %v", i, res[0])
		}
	}

	g := setup(t, []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}, nil)
	hosts := map[string]int{}
	for range 30 {
		res := deliver(t, g.opts, "equal.test", envelope.Envelope{From: "a@sender.test"}, rcpts("b@equal.test"), msg)
		allNil(t, res)
	}
	for _, m := range g.be.messages() {
		hosts[m.host]++
	}
	// All 30 on one host has probability 3/3^30.
	if len(hosts) < 2 {
		t.Fatalf("no shuffling: %v", hosts)
	}
}

func TestImplicitMX(t *testing.T) {
	f := setup(t, []string{"127.0.0.2"}, nil)
	res := deliver(t, f.opts, "nomx.test", envelope.Envelope{From: "a@sender.test"}, rcpts("b@nomx.test"), msg)
	allNil(t, res)
	if len(f.be.messages()) != 1 {
		t.Fatal("not delivered")
	}
}

func TestDNSFailures(t *testing.T) {
	f := setup(t, []string{"127.0.0.2"}, nil)
	env := envelope.Envelope{From: "a@sender.test"}

	res := deliver(t, f.opts, "null.test", env, rcpts("b@null.test"), msg)
	if re := wantReply(t, res[0], 556, "5.1.10"); re.Temporary() {
		t.Fatal("null MX temporary")
	}
	res = deliver(t, f.opts, "nowhere.test", env, rcpts("b@nowhere.test", "c@nowhere.test"), msg)
	wantReply(t, res[0], 550, "5.1.2")
	wantReply(t, res[1], 550, "5.1.2")
	res = deliver(t, f.opts, "broken.test", env, rcpts("b@broken.test"), msg)
	if re := wantReply(t, res[0], 451, "4.4.3"); !re.Temporary() {
		t.Fatal("SERVFAIL permanent")
	}
	res = deliver(t, f.opts, "dangling.test", env, rcpts("b@dangling.test"), msg)
	wantReply(t, res[0], 550, "5.4.4")
	if n := len(f.be.messages()); n != 0 {
		t.Fatalf("%d messages delivered", n)
	}
}

func TestRecipientResults(t *testing.T) {
	f := setup(t, []string{"127.0.0.2"}, nil)
	f.be.rcptErr["temp@example.org"] = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "Try again later, mailbox busy"}
	f.be.rcptErr["bad@example.org"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	res := deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"},
		rcpts("temp@example.org", "ok@example.org", "bad@example.org"), msg)
	re := wantReply(t, res[0], 451, "4.2.1")
	if !re.Temporary() || re.Text != "Try again later, mailbox busy" {
		t.Fatalf("got %+v", re)
	}
	if res[1] != nil {
		t.Fatal(res[1])
	}
	re = wantReply(t, res[2], 550, "5.1.1")
	if re.Temporary() || re.Text != "No such user here" {
		t.Fatalf("got %+v", re)
	}
	msgs := f.be.messages()
	if len(msgs) != 1 || !slices.Equal(msgs[0].rcpts, []string{"ok@example.org"}) {
		t.Fatalf("got %+v", msgs)
	}

	// Every recipient refused: no data is sent.
	res = deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("bad@example.org"), msg)
	wantReply(t, res[0], 550, "5.1.1")

	// A refusal at end of data applies to every accepted recipient.
	f.be.dataErr = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Spam detected"}
	res = deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("ok@example.org", "bad@example.org", "x@example.org"), msg)
	if re := wantReply(t, res[0], 554, "5.7.1"); re.Text != "Spam detected" {
		t.Fatalf("got %v", re)
	}
	wantReply(t, res[1], 550, "5.1.1")
	wantReply(t, res[2], 554, "5.7.1")
}

func TestSTARTTLS(t *testing.T) {
	cert, pool := selfSigned(t, "mx1.example.org")
	f := setup(t, []string{"127.0.0.2"}, func(_ string, s *smtp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})
	env := envelope.Envelope{From: "a@sender.test"}
	// Opportunistic: the self-signed certificate is accepted.
	allNil(t, deliver(t, f.opts, "example.org", env, rcpts("b@example.org"), msg))
	// Verified against the right root.
	opts := f.opts
	opts.VerifyTLS, opts.RequireTLS, opts.RootCAs = true, true, pool
	allNil(t, deliver(t, opts, "example.org", env, rcpts("b@example.org"), msg))
	msgs := f.be.messages()
	if len(msgs) != 2 || !msgs[0].tls || !msgs[1].tls {
		t.Fatalf("not over TLS: %+v", msgs)
	}
	// Verified against the system roots: refused, nothing sent in clear.
	opts.RootCAs = nil
	opts.RequireTLS = false
	res := deliver(t, opts, "example.org", env, rcpts("b@example.org"), msg)
	if re := wantReply(t, res[0], 451, "4.7.5"); !re.Temporary() {
		t.Fatal("permanent")
	}
	if len(f.be.messages()) != 2 {
		t.Fatal("delivered despite failed verification")
	}
}

func TestRequireTLSWithoutTLS(t *testing.T) {
	f := setup(t, []string{"127.0.0.2"}, nil)
	f.opts.RequireTLS = true
	res := deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg)
	if re := wantReply(t, res[0], 451, "4.7.10"); !re.Temporary() {
		t.Fatal("permanent")
	}
	if len(f.be.messages()) != 0 {
		t.Fatal("delivered in clear")
	}
}

// TestTLSHandshakeFailureFallsBack: the server offers STARTTLS but cannot
// complete a handshake; opportunistic delivery reconnects in plain text.
func TestTLSHandshakeFailureFallsBack(t *testing.T) {
	f := setup(t, []string{"127.0.0.2"}, func(_ string, s *smtp.Server) {
		s.TLSConfig = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return nil, errors.New("no certificate")
		}}
	})
	env := envelope.Envelope{From: "a@sender.test"}
	allNil(t, deliver(t, f.opts, "example.org", env, rcpts("b@example.org"), msg))
	if m := f.be.messages(); len(m) != 1 || m[0].tls {
		t.Fatalf("got %+v", m)
	}
	f.opts.RequireTLS = true
	res := deliver(t, f.opts, "example.org", env, rcpts("b@example.org"), msg)
	wantReply(t, res[0], 451, "4.7.5")
}

func TestSizeExceeded(t *testing.T) {
	f := setup(t, []string{"127.0.0.2"}, func(_ string, s *smtp.Server) { s.MaxMessageBytes = 50 })
	res := deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org", "c@example.org"), msg)
	for _, err := range res {
		if re := wantReply(t, err, 552, "5.3.4"); re.Temporary() {
			t.Fatal("temporary")
		}
	}
	if len(f.be.messages()) != 0 {
		t.Fatal("delivered")
	}
}

func TestSMTPUTF8(t *testing.T) {
	f := setup(t, []string{"127.0.0.2"}, nil)
	env := envelope.Envelope{From: "a@sender.test"}
	res := deliver(t, f.opts, "example.org", env, rcpts("用户@example.org"), msg)
	if re := wantReply(t, res[0], 550, "5.6.7"); re.Temporary() {
		t.Fatal("temporary")
	}
	// SMTPUTF8 given by the sender, header not ASCII: it needs the
	// extension (RFC 6531 §3.4), so it bounces.
	utf8Header := "Subject: caf\xc3\xa9\r\n\r\nbody\r\n"
	res = deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test", SMTPUTF8: true}, rcpts("b@example.org"), utf8Header)
	wantReply(t, res[0], 550, "5.6.7")
	if len(f.be.messages()) != 0 {
		t.Fatal("delivered a message that needs SMTPUTF8")
	}
	// SMTPUTF8 given by the sender (net/smtp always does) but envelope
	// and header ASCII (8-bit body only): delivered without the
	// parameter to a server without SMTPUTF8, as Postfix does.
	asciiHeader := "Subject: plain\r\n\r\ncaf\xc3\xa9\r\n"
	allNil(t, deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test", SMTPUTF8: true}, rcpts("b@example.org"), msg))
	allNil(t, deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test", SMTPUTF8: true, EightBit: true}, rcpts("b@example.org"), asciiHeader))
	if m := f.be.messages(); len(m) != 2 || m[0].mailOpts.UTF8 || m[1].mailOpts.UTF8 || string(m[1].data) != asciiHeader {
		t.Fatalf("got %+v", m)
	}

	g := setup(t, []string{"127.0.0.2"}, func(_ string, s *smtp.Server) { s.EnableSMTPUTF8 = true })
	allNil(t, deliver(t, g.opts, "example.org", env, rcpts("用户@example.org"), msg))
	m := g.be.messages()
	if len(m) != 1 || !m[0].mailOpts.UTF8 || m[0].rcpts[0] != "用户@example.org" {
		t.Fatalf("got %+v", m)
	}
	// A server that offers SMTPUTF8 still gets the parameter the sender
	// gave, needed or not.
	allNil(t, deliver(t, g.opts, "example.org", envelope.Envelope{From: "a@sender.test", SMTPUTF8: true}, rcpts("b@example.org"), msg))
	if m := g.be.messages(); len(m) != 2 || !m[1].mailOpts.UTF8 {
		t.Fatalf("got %+v", m)
	}
}

func TestDSNParameters(t *testing.T) {
	f := setup(t, []string{"127.0.0.2"}, func(_ string, s *smtp.Server) { s.EnableDSN = true })
	env := envelope.Envelope{From: "a@sender.test", Ret: "HDRS", EnvID: "id+1 x=y"}
	rs := []envelope.Recipient{
		{Address: "b@example.org", Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "rfc822;orig+tag@example.net"},
		{Address: "c@example.org", Notify: []string{"NEVER"}},
		{Address: "d@example.org"},
	}
	allNil(t, deliver(t, f.opts, "example.org", env, rs, msg))
	m := f.be.messages()[0]
	if m.mailOpts.Return != smtp.DSNReturnHeaders || m.mailOpts.EnvelopeID != "id+1 x=y" {
		t.Fatalf("MAIL options %+v", m.mailOpts)
	}
	o := m.rcptOpts
	if !slices.Equal(o[0].Notify, []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure}) ||
		o[0].OriginalRecipientType != smtp.DSNAddressTypeRFC822 || o[0].OriginalRecipient != "orig+tag@example.net" {
		t.Fatalf("RCPT 1 options %+v", o[0])
	}
	if !slices.Equal(o[1].Notify, []smtp.DSNNotify{smtp.DSNNotifyNever}) || o[1].OriginalRecipient != "" {
		t.Fatalf("RCPT 2 options %+v", o[1])
	}
	if len(o[2].Notify) != 0 {
		t.Fatalf("RCPT 3 options %+v", o[2])
	}

	// Without DSN support nothing is passed (go-smtp would refuse the
	// parameters with 504).
	g := setup(t, []string{"127.0.0.2"}, nil)
	allNil(t, deliver(t, g.opts, "example.org", env, rs, msg))
}

func TestSmarthostAuth(t *testing.T) {
	cert, _ := selfSigned(t, "relay.test")
	f := setup(t, []string{"127.0.0.2"}, func(_ string, s *smtp.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})
	f.be.user, f.be.pass = "relayuser", "s3cret"
	f.opts.Smarthost = &config.Smarthost{Address: fmt.Sprintf("127.0.0.2:%d", f.port), Username: "relayuser", Password: "s3cret"}
	// Any domain, no DNS needed: everything goes to the smarthost.
	allNil(t, deliver(t, f.opts, "anywhere.test", envelope.Envelope{From: "a@sender.test"}, rcpts("x@anywhere.test"), msg))
	m := f.be.messages()
	if len(m) != 1 || m[0].authUser != "relayuser" || !m[0].tls {
		t.Fatalf("got %+v", m)
	}

	f.opts.Smarthost.Password = "wrong"
	res := deliver(t, f.opts, "anywhere.test", envelope.Envelope{From: "a@sender.test"}, rcpts("x@anywhere.test"), msg)
	if re := wantReply(t, res[0], 451, "4.7.8"); !strings.Contains(re.Text, "Authentication failed") {
		t.Fatalf("got %v", re)
	}
}

// TestSmarthostPlainLoopback: AUTH without TLS is allowed only because
// the relay is on loopback.
func TestSmarthostPlainLoopback(t *testing.T) {
	f := setup(t, []string{"127.0.0.2"}, func(_ string, s *smtp.Server) { s.AllowInsecureAuth = true })
	f.be.user, f.be.pass = "u", "p"
	f.opts.Smarthost = &config.Smarthost{Address: fmt.Sprintf("127.0.0.2:%d", f.port), Username: "u", Password: "p", TLS: "none"}
	allNil(t, deliver(t, f.opts, "anywhere.test", envelope.Envelope{From: "a@sender.test"}, rcpts("x@anywhere.test"), msg))
	if m := f.be.messages(); len(m) != 1 || m[0].tls || m[0].authUser != "u" {
		t.Fatalf("got %+v", m)
	}
}

func TestTransportRule(t *testing.T) {
	cert, _ := selfSigned(t, "relay.test")
	f := setup(t, []string{"127.0.0.2", "127.0.0.5"}, nil)
	// An implicit-TLS relay on 127.0.0.6.
	l, err := tls.Listen("tcp", fmt.Sprintf("127.0.0.6:%d", f.port), &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(hostBackend{f.be, "127.0.0.6"})
	s.Domain = "relay.test"
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	t.Cleanup(func() { s.Close(); l.Close(); <-done })

	f.opts.Transports = map[string]config.Smarthost{
		"Other.TEST":    {Address: fmt.Sprintf("127.0.0.5:%d", f.port)},
		"implicit.test": {Address: fmt.Sprintf("127.0.0.6:%d", f.port), TLS: "tls"},
	}
	env := envelope.Envelope{From: "a@sender.test"}
	allNil(t, deliver(t, f.opts, "other.test", env, rcpts("x@other.test"), msg))
	allNil(t, deliver(t, f.opts, "example.org", env, rcpts("y@example.org"), msg))
	allNil(t, deliver(t, f.opts, "implicit.test", env, rcpts("z@implicit.test"), msg))
	got := map[string]string{}
	for _, m := range f.be.messages() {
		got[m.rcpts[0]] = fmt.Sprintf("%s tls=%v", m.host, m.tls)
	}
	want := map[string]string{"x@other.test": "127.0.0.5 tls=false", "y@example.org": "127.0.0.2 tls=false", "z@implicit.test": "127.0.0.6 tls=true"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	// A relay that is down is a temporary failure, even though routing
	// needs no DNS.
	delete(f.opts.Transports, "Other.TEST")
	f.opts.Transports["other.test"] = config.Smarthost{Address: fmt.Sprintf("127.0.0.7:%d", f.port)}
	res := deliver(t, f.opts, "other.test", env, rcpts("x@other.test"), msg)
	wantReply(t, res[0], 451, "4.4.1")
}

// TestDATAWithoutExtensions talks to a server without PIPELINING and
// CHUNKING: commands one by one, DATA with dot-stuffing, multi-line
// replies and a refusal at end of data.
func TestDATAWithoutExtensions(t *testing.T) {
	d := dnstest.Start(t, zone())
	replies := map[string]string{
		"":     "220-mx1.example.org ESMTP\r\n220 welcome\r\n",
		"EHLO": "250-mx1.example.org\r\n250 SIZE 100000\r\n",
		"MAIL": "250 2.1.0 ok\r\n",
		"RCPT": "250 2.1.5 ok\r\n",
		"DATA": "354 go ahead\r\n",
		".":    "250 2.0.0 queued\r\n",
		"QUIT": "221 2.0.0 bye\r\n",
	}
	s := startScripted(t, "127.0.0.2:0", replies)
	port := s.l.Addr().(*net.TCPAddr).Port
	opts := smtpclient.Options{Hostname: "pochta.test", Resolver: dns.New([]string{d.Addr()}, 2*time.Second), Port: port, CommandTimeout: 5 * time.Second}
	allNil(t, deliver(t, opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org", "c@example.org"), msg))
	want := "EHLO pochta.test\nMAIL FROM:<a@sender.test> SIZE=" + fmt.Sprint(len(msg)) +
		"\nRCPT TO:<b@example.org>\nRCPT TO:<c@example.org>\nDATA\nQUIT\n"
	if got := s.dialogue(); got != want {
		t.Fatalf("dialogue:\n%s\nwant:\n%s", got, want)
	}
	if got := string(s.data); got != strings.Replace(msg, "\r\n.hidden", "\r\n..hidden", 1) {
		t.Fatalf("data %q", got)
	}

	s.set(".", "550-5.7.1 rejected\r\n550-5.7.1 see https://example.org/why\r\n550 5.7.1 bye\r\n")
	res := deliver(t, opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg)
	if re := wantReply(t, res[0], 550, "5.7.1"); re.Text != "rejected see https://example.org/why bye" {
		t.Fatalf("text %q", re.Text)
	}

	// A reply without enhanced code gets the class default.
	s.set("MAIL", "452 too busy\r\n")
	res = deliver(t, opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg)
	wantReply(t, res[0], 452, "4.0.0")
}

// TestHELOFallback: a server that does not know EHLO gets HELO.
func TestHELOFallback(t *testing.T) {
	d := dnstest.Start(t, zone())
	s := startScripted(t, "127.0.0.2:0", map[string]string{
		"":     "220 old server\r\n",
		"EHLO": "502 what\r\n",
		"HELO": "250 hi\r\n",
		"MAIL": "250 ok\r\n",
		"RCPT": "250 ok\r\n",
		"DATA": "354 go\r\n",
		".":    "250 ok\r\n",
		"QUIT": "221 bye\r\n",
	})
	port := s.l.Addr().(*net.TCPAddr).Port
	opts := smtpclient.Options{Hostname: "pochta.test", Resolver: dns.New([]string{d.Addr()}, 2*time.Second), Port: port, CommandTimeout: 5 * time.Second}
	allNil(t, deliver(t, opts, "example.org", envelope.Envelope{From: ""}, rcpts("b@example.org"), msg))
	if !strings.HasPrefix(s.dialogue(), "EHLO pochta.test\nHELO pochta.test\nMAIL FROM:<>\n") {
		t.Fatalf("dialogue %q", s.dialogue())
	}
}

// TestGarbageServer: a peer that does not speak SMTP gives a temporary
// connection failure, not a hang or a crash.
func TestGarbageServer(t *testing.T) {
	d := dnstest.Start(t, zone())
	s := startScripted(t, "127.0.0.2:0", map[string]string{"": "HTTP/1.1 400 Bad Request\r\n\r\n"})
	port := s.l.Addr().(*net.TCPAddr).Port
	opts := smtpclient.Options{Hostname: "pochta.test", Resolver: dns.New([]string{d.Addr()}, 2*time.Second), Port: port, CommandTimeout: 5 * time.Second}
	res := deliver(t, opts, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), msg)
	wantReply(t, res[0], 451, "4.4.2")
}

// TestContextCancel: cancelling the context ends a delivery to a server
// that never answers.
func TestContextCancel(t *testing.T) {
	d := dnstest.Start(t, zone())
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent: never greets
		}
	}()
	opts := smtpclient.Options{Hostname: "pochta.test", Resolver: dns.New([]string{d.Addr()}, 2*time.Second), Port: l.Addr().(*net.TCPAddr).Port, CommandTimeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := smtpclient.New(opts).Deliver(ctx, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), []byte(msg))
	if time.Since(start) > 20*time.Second {
		t.Fatal("cancel not honoured")
	}
	re, ok := reply.As(res[0])
	if !ok || !re.Temporary() {
		t.Fatalf("got %v", res[0])
	}
}

func TestReadReply(t *testing.T) {
	for _, c := range []struct {
		in   string
		code int
		enh  string
		text string
		bad  bool
	}{
		{in: "250 ok\r\n", code: 250, text: "ok"},
		{in: "250\r\n", code: 250, text: ""},
		{in: "550 5.1.1 no such user\r\n", code: 550, enh: "5.1.1", text: "no such user"},
		{in: "550 4.1.1 class mismatch\r\n", code: 550, text: "4.1.1 class mismatch"},
		{in: "250-a\r\n250-b\r\n250 c\r\n", code: 250, text: "a b c"},
		{in: "250-a\n250 b\n", code: 250, text: "a b"},
		{in: "250-a\r\n251 b\r\n", bad: true},
		{in: "25\r\n", bad: true},
		{in: "abc ok\r\n", bad: true},
		{in: "250x\r\n", bad: true},
		{in: "650 no\r\n", bad: true},
		{in: "250-a\r\n", bad: true},
		{in: "250 " + strings.Repeat("x", 5000) + "\r\n", bad: true},
		{in: strings.Repeat("250-x\r\n", 500) + "250 x\r\n", bad: true},
	} {
		rep, err := smtpclient.ReadReply(bufioReader(c.in))
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error", c.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if rep.Code != c.code || rep.Enhanced != c.enh || rep.Text() != c.text {
			t.Errorf("%q: got %d %q %q", c.in, rep.Code, rep.Enhanced, rep.Text())
		}
	}
}

func TestReplyTextSanitized(t *testing.T) {
	rep, err := smtpclient.ReadReply(bufioReader("550 5.0.0 bad\x00\x1b[31m \xff text\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Err().Text; got != "bad??[31m ? text" {
		t.Fatalf("got %q", got)
	}
	if !bytes.Equal([]byte(rep.Err().Enhanced), []byte("5.0.0")) {
		t.Fatal(rep.Err())
	}
}

// TestBadAddresses: addresses that could break a command line never reach
// the wire; the others are still delivered.
func TestBadAddresses(t *testing.T) {
	f := setup(t, []string{"127.0.0.2"}, nil)
	res := deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@sender.test"},
		rcpts("b@example.org", "x@example.org>\r\nRSET", "c d@example.org", "c@example.org"), msg)
	if res[0] != nil || res[3] != nil {
		t.Fatal(res)
	}
	wantReply(t, res[1], 553, "5.1.3")
	wantReply(t, res[2], 553, "5.1.3")
	m := f.be.messages()
	if len(m) != 1 || !slices.Equal(m[0].rcpts, []string{"b@example.org", "c@example.org"}) {
		t.Fatalf("got %+v", m)
	}
	res = deliver(t, f.opts, "example.org", envelope.Envelope{From: "a@x\r\nQUIT"}, rcpts("b@example.org"), msg)
	wantReply(t, res[0], 553, "5.1.7")
}
