package smtpserver

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"pochta/internal/auth"
	"pochta/internal/config"
)

// testClock is the limiters' clock: tests move it instead of sleeping.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// withRates returns opts with small abuse limits (unset ones are the
// generous defaults) and no exempt network, so loopback is limited.
func withRates(opts Options, l config.Limits) (Options, *testClock) {
	clk := &testClock{t: time.Unix(1700000000, 0)}
	l.ConnectionLimitExceptions = []string{}
	opts.Rates = NewRates(l, clk.now)
	return opts, clk
}

func TestRateConnectionsPerIP(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts, clk := withRates(f.options(ModeInbound), config.Limits{ConnectionsPerMinutePerIP: 3})
	addr := startServer(t, opts)
	for range 3 {
		dialGreeted(t, addr).cmd("QUIT", "221 ")
	}
	c := dial(t, addr)
	c.expect("421 4.7.0 mx.test Too many connections from your address per minute")
	c.expectClosed()
	clk.add(2 * time.Minute)
	dialGreeted(t, addr).cmd("QUIT", "221 ")

	// The same limit spares connection_limit_exceptions.
	opts.Rates = NewRates(config.Limits{ConnectionsPerMinutePerIP: 1, ConnectionLimitExceptions: []string{"127.0.0.0/8"}}, clk.now)
	addr = startServer(t, opts)
	for range 5 {
		dialGreeted(t, addr).cmd("QUIT", "221 ")
	}
}

func TestRateMessagesPerIP(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts, clk := withRates(f.options(ModeInbound), config.Limits{MessagesPerMinutePerIP: 2})
	addr := startServer(t, opts)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 2 {
		if err := c.SendMail("x@sender.example", []string{"alice@example.com"}, strings.NewReader("Subject: n\r\n\r\nhi\r\n")); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	var se *smtp.SMTPError
	err = c.Mail("x@sender.example", nil)
	if !errors.As(err, &se) || se.Code != 421 || se.EnhancedCode != (smtp.EnhancedCode{4, 7, 0}) {
		t.Fatalf("third MAIL in a minute: %v, want 421 4.7.0", err)
	}
	if n := len(f.inbox("alice@example.com")); n != 2 {
		t.Fatalf("alice has %d messages", n)
	}
	clk.add(2 * time.Minute)
	d := dialGreeted(t, addr)
	d.cmd("EHLO a.example", "250 ")
	d.cmd("MAIL FROM:<x@sender.example>", "250 ")
}

// login opens a submission session from loopback as user.
func login(t *testing.T, addr, user, pass string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("laptop.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Fatal(err)
	}
	return c
}

func send(c *smtp.Client, from string, to ...string) error {
	msg := "From: <" + from + ">\r\nTo: <" + to[0] + ">\r\nSubject: s\r\n\r\nhi\r\n"
	return c.SendMail(from, to, strings.NewReader(msg))
}

func wantCode(t *testing.T, what string, err error, code int, enhanced smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != code || se.EnhancedCode != enhanced {
		t.Fatalf("%s: %v, want %d %v", what, err, code, enhanced)
	}
}

func TestRateMessagesPerAccount(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: true})
	opts, _ := withRates(f.options(ModeSubmission), config.Limits{MessagesPerMinutePerAccount: 2})
	addr := startServer(t, opts)
	alice := login(t, addr, "alice@example.com", alicePass)
	for i := range 2 {
		if err := send(alice, "alice@example.com", "bob@example.com"); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	wantCode(t, "alice's third MAIL", alice.Mail("alice@example.com", nil), 421, smtp.EnhancedCode{4, 7, 0})
	// Another session of the same account is limited too, another account not.
	wantCode(t, "alice again", login(t, addr, "alice@example.com", alicePass).Mail("alice@example.com", nil), 421, smtp.EnhancedCode{4, 7, 0})
	if err := send(login(t, addr, "bob@example.com", bobPass), "bob@example.com", "alice@example.com"); err != nil {
		t.Fatalf("bob limited by alice's count: %v", err)
	}
}

func TestRateAuthFailuresPerHour(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: true, MaxFailuresPerHour: 2})
	opts, _ := withRates(f.options(ModeSubmission), config.Limits{})
	addr := startServer(t, opts)
	c := dialGreeted(t, addr)
	c.cmd("EHLO laptop.test", "250 ")
	for range 2 {
		c.cmd("AUTH PLAIN "+b64("\x00alice@example.com\x00wrong"), "535 5.7.8")
	}
	// The right password no longer helps from this address this hour.
	c.cmd("AUTH PLAIN "+b64("\x00alice@example.com\x00"+alicePass), "421 4.7.0 mx.test Too many failed logins")
	c.expectClosed()
	// A loopback-exempt Authenticator would not cap (auth's own test);
	// here a new session from the same IP is refused at once too.
	c = dialGreeted(t, addr)
	c.cmd("EHLO laptop.test", "250 ")
	c.cmd("AUTH PLAIN "+b64("\x00bob@example.com\x00"+bobPass), "421 4.7.0")
}

func TestRateOutgoingPerDay(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: true})
	opts, clk := withRates(f.options(ModeSubmission), config.Limits{OutgoingMessagesPerDay: 2, OutgoingRecipientsPerDay: 3})
	// Outgoing limits apply to every account, from exempt networks too.
	opts.Rates.Exempt = []netip.Prefix{loopback}
	addr := startServer(t, opts)
	c := login(t, addr, "alice@example.com", alicePass)
	if err := send(c, "alice@example.com", "r1@remote.example", "r2@remote.example"); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "alice@example.com", "r3@remote.example"); err != nil {
		t.Fatal(err)
	}
	// Third message with remote recipients: refused at its first one, while
	// local recipients still get mail.
	wantCode(t, "third outgoing message", send(c, "alice@example.com", "r1@remote.example"), 451, smtp.EnhancedCode{4, 7, 1})
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "alice@example.com", "bob@example.com"); err != nil {
		t.Fatalf("local mail limited: %v", err)
	}
	if n := len(f.queue.all()); n != 2 {
		t.Fatalf("%d messages queued, want 2", n)
	}
	clk.add(25 * time.Hour)
	// A new day: the message count is free again; three distinct recipients
	// at most, and one already used within the day may be used again.
	if err := c.Mail("alice@example.com", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"n1@remote.example", "n2@remote.example", "n3@remote.example", "n1@remote.example"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatalf("RCPT %s: %v", r, err)
		}
	}
	wantCode(t, "fourth distinct recipient", c.Rcpt("n4@remote.example", nil), 451, smtp.EnhancedCode{4, 7, 1})
	if err := c.Rcpt("bob@example.com", nil); err != nil {
		t.Fatalf("local recipient limited: %v", err)
	}
}
