package smtpserver

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/config"
)

func TestEHLOKeywords(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: true})
	addr := startServer(t, f.options(ModeInbound))
	c := dial(t, addr)
	greet := c.expect("220 ")
	if greet[0] != "220 mx.test ESMTP ready" {
		t.Errorf("greeting %q", greet)
	}
	lines := c.cmd("EHLO client.test", "250 ")
	var kw []string
	for _, l := range lines[1:] {
		kw = append(kw, l[4:])
	}
	want := []string{"SIZE 100000", "8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES", "STARTTLS", "CHUNKING", "SMTPUTF8", "DSN"}
	if !slices.Equal(kw, want) {
		t.Errorf("EHLO keywords %q, want %q (no AUTH on inbound)", kw, want)
	}
	c.startTLS()
	lines = c.cmd("EHLO client.test", "250 ")
	for _, l := range lines {
		if strings.Contains(l, "STARTTLS") {
			t.Errorf("STARTTLS offered inside TLS: %q", lines)
		}
	}
	c.cmd("HELO client.test", "250 mx.test")
	c.cmd("NOOP", "250 2.0.0")
	c.cmd("VRFY alice", "252 ")
	c.cmd("VRFY nosuchuser", "252 ")
	c.cmd("HELP", "214 ")
	c.cmd("RSET", "250 2.0.0")
	c.cmd("BOGUS", "500 5.5.1")
	c.cmd("EHLO", "501 ")
	c.cmd("QUIT", "221 2.0.0")
	c.expectClosed()

	sub := f.options(ModeSubmission)
	saddr := startServer(t, sub)
	c = dialGreeted(t, saddr)
	lines = c.cmd("EHLO client.test", "250 ")
	if lines[len(lines)-1] != "250 AUTH PLAIN LOGIN" {
		t.Errorf("submission EHLO %q lacks AUTH PLAIN LOGIN", lines)
	}
}

// deliverRaw runs one transaction to rcpts and expects the final reply.
func deliverRaw(t *testing.T, addr, from string, rcpts []string, body, want string) {
	t.Helper()
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<"+from+">", "250 ")
	for _, r := range rcpts {
		c.cmd("RCPT TO:<"+r+">", "250 ")
	}
	c.cmd("DATA", "354 ")
	c.send(body + ".\r\n")
	c.expect(want)
	c.cmd("QUIT", "221 ")
}

func TestOpenRelayRefused(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<sender@remote.example>", "250 ")
	for _, rcpt := range []string{
		"<victim@remote.example>",
		"<victim%remote.example@example.com>",
		"<@example.com:victim@remote.example>",
		"<@example.com,@mx.test:victim@remote.example>",
		`<"victim@remote.example"@example.com>`,
		`<"victim%remote.example"@example.com>`,
		"<remote.example!victim@example.com>",
		"<victim@[127.0.0.1]>",
		"<alice%remote.example@catch.example>",
	} {
		c.send("RCPT TO:" + rcpt + "\r\n")
		line := c.readReply()[0]
		if !strings.HasPrefix(line, "550 5.7.1") && !strings.HasPrefix(line, "553 5.1.3") {
			t.Errorf("RCPT TO:%s got %q, want 550 5.7.1", rcpt, line)
		}
	}
	c.cmd("RCPT TO:<victim@remote.example", "553 5.1.3")
	c.cmd("DATA", "554 ")
	if q := f.queue.all(); len(q) != 0 {
		t.Errorf("relayed: %+v", q)
	}
}

func TestTrustedAndBeforeSMTPRelay(t *testing.T) {
	f := newFixture(t, auth.Options{BeforeSMTPWindow: time.Minute})
	opts := f.options(ModeInbound)
	opts.TrustedNetworks = []netip.Prefix{loopback}
	addr := startServer(t, opts)
	deliverRaw(t, addr, "alice@example.com", []string{"far@remote.example"}, "Subject: t\r\n\r\nhi\r\n", "250 2.0.0")
	if q := f.queue.all(); len(q) != 1 || q[0].env.Recipients[0].Address != "far@remote.example" {
		t.Fatalf("queue = %+v", q)
	}

	opts = f.options(ModeInbound)
	opts.BeforeSMTP = true
	addr = startServer(t, opts)
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<alice@example.com>", "250 ")
	c.cmd("RCPT TO:<far@remote.example>", "550 5.7.1")
	if _, err := f.auth.Login(context.Background(), "alice@example.com", alicePass, netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	c.cmd("RCPT TO:<far@remote.example>", "250 ")
}

func TestRecipients(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<sender@remote.example>", "250 ")
	c.cmd("RCPT TO:<nobody@example.com>", "550 5.1.1")
	c.cmd("RCPT TO:<anything@catch.example>", "250 ")
	c.cmd("RCPT TO:<team@example.com>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("RCPT TO:<Alice@Example.COM>", "250 ") // duplicate, counted once
	c.cmd("DATA", "354 ")
	c.send("Subject: multi\r\n\r\nhello\r\n.\r\n")
	c.expect("250 2.0.0")
	// alice: via team and directly -> one copy. bob: via catch-all and team -> one copy.
	for _, u := range []string{"alice@example.com", "bob@example.com"} {
		if got := f.inbox(u); len(got) != 1 {
			t.Errorf("%s has %d messages, want 1", u, len(got))
		} else if !strings.Contains(got[0], "Subject: multi") || strings.Contains(got[0], "\tfor <") {
			t.Errorf("%s got %q", u, got[0])
		}
	}
	// <postmaster> without a domain is accepted (RFC 5321 §4.5.1) when it exists.
	c.cmd("MAIL FROM:<>", "250 ")
	c.cmd("RCPT TO:<postmaster>", "550 5.7.1") // mx.test is not a local domain here
}

func TestReceivedHeader(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	deliverRaw(t, addr, "sender@remote.example", []string{"alice@example.com"}, "Subject: r\r\n\r\nx\r\n", "250 2.0.0")
	got := f.inbox("alice@example.com")
	if len(got) != 1 {
		t.Fatalf("inbox %d", len(got))
	}
	re := regexp.MustCompile(`^Return-Path: <sender@remote\.example>\r\n` +
		`Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test with ESMTP id ([a-z0-9]+)\r\n\tfor <alice@example\.com>;\r\n\t` +
		`[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}\r\nSubject: r\r\n\r\nx\r\n$`)
	if !re.MatchString(got[0]) {
		t.Errorf("message:\n%q", got[0])
	}
}

func TestQuota(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<s@remote.example> SIZE=5000", "250 ")
	c.cmd("RCPT TO:<quota@example.com>", "552 5.2.2")
	c.cmd("RSET", "250 ")
	// Fill the mailbox beyond its 2000-byte quota: a message that fits the
	// RCPT check but not the mailbox is refused at delivery time.
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<quota@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("Subject: big\r\n\r\n" + filler("x", 2500) + ".\r\n")
	c.expect("552 5.2.2")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<quota@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("Subject: fits\r\n\r\n" + filler("x", 1500) + ".\r\n")
	c.expect("250 ")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<quota@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("Subject: over\r\n\r\n" + filler("y", 500) + ".\r\n")
	c.expect("552 5.2.2")
	// Still over? The stored size exceeds the quota only if delivery let it;
	// a full mailbox answers 452 4.2.2 at RCPT.
	used, limit, err := f.st.QuotaUsage(context.Background(), mustAccount(t, f, "quota@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if used > limit {
		t.Fatalf("quota exceeded: %d > %d", used, limit)
	}
}

func mustAccount(t *testing.T, f *fixture, addr string) int64 {
	t.Helper()
	a, err := f.st.GetAccount(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func TestQuotaFullAtRcptAndPartialFailure(t *testing.T) {
	f := newFixture(t, auth.Options{})
	ctx := context.Background()
	addr := startServer(t, f.options(ModeInbound))
	// Partial failure: alice gets it, quota@ overflows at delivery time;
	// the reply is 250 and quota@ is handed to the queue.
	deliverRaw(t, addr, "s@remote.example", []string{"alice@example.com", "quota@example.com"},
		"Subject: p\r\n\r\n"+filler("z", 2500), "250 2.0.0")
	if n := len(f.inbox("alice@example.com")); n != 1 {
		t.Errorf("alice has %d", n)
	}
	q := f.queue.all()
	if len(q) != 1 || len(q[0].env.Recipients) != 1 || q[0].env.Recipients[0].Address != "quota@example.com" {
		t.Fatalf("queue = %+v", q)
	}
	// A full mailbox answers 452 4.2.2 at RCPT.
	if err := f.st.SetQuota(ctx, "alice@example.com", 1); err != nil {
		t.Fatal(err)
	}
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "452 4.2.2")
}

func TestSizeLimit(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<s@remote.example> SIZE=100001", "552 5.3.4")
	c.cmd("MAIL FROM:<s@remote.example> SIZE=1000", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	line := strings.Repeat("a", 998) + "\r\n"
	c.send(strings.Repeat(line, 101) + ".\r\n")
	c.expect("552 5.3.4")
	c.cmd("NOOP", "250 ") // in sync after reading to the end
	if n := len(f.inbox("alice@example.com")); n != 0 {
		t.Errorf("oversized message delivered")
	}
	// BDAT over the limit too.
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.send("BDAT 60000\r\n" + strings.Repeat(line, 60))
	c.expect("250 ")
	c.send("BDAT 60000 LAST\r\n" + strings.Repeat(line, 60))
	c.expect("552 5.3.4")
	c.cmd("NOOP", "250 ")
}

func TestTooManyRecipients(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Limits.MaxRecipients = 2
	addr := startServer(t, opts)
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("RCPT TO:<bob@example.com>", "250 ")
	c.cmd("RCPT TO:<team@example.com>", "452 4.5.3")
}

func TestLongLines(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("NOOP "+strings.Repeat("x", 5000), "500 5.5.2")
	c.cmd("NOOP", "250 ")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("Subject: long\r\n\r\n" + strings.Repeat("b", 1001) + "\r\n.\r\n")
	c.expect("500 5.5.2")
	c.cmd("NOOP", "250 ")
	if n := len(f.inbox("alice@example.com")); n != 0 {
		t.Errorf("message with long line delivered")
	}
}

func TestCommandTimeout(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Limits.CommandTimeout = config.D(200 * time.Millisecond)
	addr := startServer(t, opts)
	c := dialGreeted(t, addr)
	c.expect("421 4.4.2")
	c.expectClosed()
}

func TestMaxErrors(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Limits.MaxErrors = 3
	addr := startServer(t, opts)
	c := dialGreeted(t, addr)
	c.cmd("FOO", "500 ")
	c.cmd("BAR", "500 ")
	c.cmd("BAZ", "500 ")
	c.expect("421 4.7.0")
	c.expectClosed()
}

func TestMaxConnectionsPerIP(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Limits.MaxConnectionsPerIP = 2
	addr := startServer(t, opts)
	c1 := dialGreeted(t, addr)
	dialGreeted(t, addr)
	c3 := dial(t, addr)
	c3.expect("421 4.7.0")
	c3.expectClosed()
	c1.cmd("QUIT", "221 ")
	// The place is free as soon as the client has read 221: a client
	// that reconnects at once is admitted.
	dialGreeted(t, addr)
	c1.expectClosed()
}

func TestPipelining(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.send("MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
	c.expect("250 2.1.0")
	c.expect("250 2.1.5")
	c.expect("550 5.1.1")
	c.expect("250 2.1.5")
	c.expect("354 ")
	c.send("Subject: piped\r\n\r\nx\r\n.\r\nMAIL FROM:<s@remote.example>\r\nRCPT TO:<bob@example.com>\r\nBDAT 4 LAST\r\nabc\n")
	c.expect("250 2.0.0")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("550 5.6.0") // the BDAT content had a bare LF
	if n := len(f.inbox("alice@example.com")); n != 1 {
		t.Errorf("alice %d", n)
	}
	if n := len(f.inbox("bob@example.com")); n != 1 {
		t.Errorf("bob %d", n)
	}
}

func TestChunking(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.send("BDAT 3\r\nabc") // chunk consumed even without a transaction
	c.expect("503 ")
	c.cmd("NOOP", "250 ")
	c.send("MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@example.com>\r\nBDAT 15\r\nSubject: chunk\r")
	c.send("BDAT 9\r\n\n\r\nbody\r\nBDAT 0 LAST\r\n")
	c.expect("250 2.1.0")
	c.expect("250 2.1.5")
	c.expect("250 2.0.0 15 octets")
	c.expect("250 2.0.0 9 octets")
	c.expect("250 2.0.0 OK")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.send("BDAT 3\r\na\rb")
	c.expect("250 ")
	c.cmd("DATA", "503 ")
	c.send("BDAT 2 LAST\r\n\r\n")
	c.expect("550 5.6.0") // bare CR
	got := f.inbox("alice@example.com")
	if len(got) != 1 || !strings.HasSuffix(got[0], "\r\nSubject: chunk\r\n\r\nbody\r\n") {
		t.Errorf("inbox %q", got)
	}
}

func TestSMTPUTF8(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<отправитель@пример.рф>", "553 5.6.7")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<пользователь@example.com>", "553 5.6.7")
	c.cmd("RSET", "250 ")
	c.cmd("MAIL FROM:<отправитель@пример.рф> SMTPUTF8 BODY=8BITMIME", "250 ")
	c.cmd("RCPT TO:<пользователь@example.com>", "550 5.1.1")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("Subject: Привет\r\n\r\nтекст\r\n.\r\n")
	c.expect("250 ")
	got := f.inbox("alice@example.com")
	if len(got) != 1 || !strings.HasPrefix(got[0], "Return-Path: <отправитель@xn--e1afmkfd.xn--p1ai>\r\n") ||
		!strings.Contains(got[0], " with UTF8SMTP id ") || !strings.Contains(got[0], "Subject: Привет") {
		t.Errorf("inbox %q", got)
	}
}

func TestDSNParams(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.TrustedNetworks = []netip.Prefix{loopback}
	addr := startServer(t, opts)
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<s@example.com> RET=HDRS ENVID=QQ+2B314", "250 ")
	c.cmd("RCPT TO:<far@remote.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;far+40remote.example", "250 ")
	c.cmd("RCPT TO:<x@remote.example> NOTIFY=NEVER", "250 ")
	c.cmd("RCPT TO:<y@remote.example> NOTIFY=NEVER,SUCCESS", "501 5.5.4")
	c.cmd("RCPT TO:<y@remote.example> FOO=BAR", "555 5.5.4")
	c.cmd("DATA", "354 ")
	c.send("Subject: dsn\r\n\r\nx\r\n.\r\n")
	c.expect("250 ")
	q := f.queue.all()
	if len(q) != 1 {
		t.Fatalf("queue %+v", q)
	}
	e := q[0].env
	if e.Ret != "HDRS" || e.EnvID != "QQ+314" || e.From != "s@example.com" || len(e.Recipients) != 2 ||
		!slices.Equal(e.Recipients[0].Notify, []string{"SUCCESS", "FAILURE"}) ||
		e.Recipients[0].ORcpt != "rfc822;far@remote.example" ||
		!slices.Equal(e.Recipients[1].Notify, []string{"NEVER"}) ||
		e.RemoteIP.String() != "127.0.0.1" || e.Helo != "client.test" || e.ID == "" {
		t.Errorf("envelope %+v", e)
	}
}

func TestShutdown(t *testing.T) {
	f := newFixture(t, auth.Options{})
	l, s := listen(t, f.options(ModeInbound))
	c := dialGreeted(t, l)
	c.cmd("EHLO client.test", "250 ")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.expect("421 4.3.2")
	c.expectClosed()
}

// filler returns about n bytes of lines of 98 characters each.
func filler(ch string, n int) string {
	line := strings.Repeat(ch, 98) + "\r\n"
	return strings.Repeat(line, n/100+1)
}

func TestMaxConnectionsTotal(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Limits.MaxConnections = 1
	addr := startServer(t, opts)
	dialGreeted(t, addr)
	c := dial(t, addr)
	c.expect("421 4.7.0")
	c.expectClosed()
}

// TestShutdownInFlight: a transaction in progress finishes; the session
// is told 421 at its next command.
func TestShutdownInFlight(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr, s := listen(t, f.options(ModeInbound))
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("Subject: inflight\r\n\r\n")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	// Wait until the server no longer accepts connections.
	for i := 0; i < 500; i++ {
		if conn, err := net.Dial("tcp", addr); err != nil {
			break
		} else {
			conn.Close()
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.send("still here\r\n.\r\n")
	c.expect("250 2.0.0")
	c.expect("421 4.3.2")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(f.inbox("alice@example.com")); n != 1 {
		t.Errorf("alice has %d", n)
	}
}

func TestAliasForwardsToQueue(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	deliverRaw(t, addr, "s@remote.example", []string{"fwd@example.com"}, "Subject: fwd\r\n\r\nx\r\n", "250 ")
	q := f.queue.all()
	if len(q) != 1 || q[0].env.Recipients[0].Address != "far@remote.example" || !strings.Contains(string(q[0].content), "for <fwd@example.com>") {
		t.Errorf("queue %+v", q)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTransactionLog(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: true})
	var logs syncBuffer
	opts := f.options(ModeSubmission)
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	addr := startServer(t, opts)
	c := dialGreeted(t, addr)
	c.cmd("EHLO laptop.test", "250 ")
	c.cmd("AUTH PLAIN "+b64("\x00alice@example.com\x00wrong-password-xyz"), "535 ")
	c.cmd("AUTH PLAIN "+b64("\x00alice@example.com\x00"+alicePass), "235 ")
	c.cmd("MAIL FROM:<alice@example.com>", "250 ")
	c.cmd("RCPT TO:<bob@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("From: alice@example.com\r\n\r\nx\r\n.\r\n")
	c.expect("250 ")
	c.cmd("QUIT", "221 ")
	c.expectClosed()
	out := logs.String()
	if strings.Contains(out, alicePass) || strings.Contains(out, "wrong-password-xyz") || strings.Contains(out, b64("\x00alice@example.com\x00"+alicePass)) {
		t.Errorf("credentials in log:\n%s", out)
	}
	re := regexp.MustCompile(`msg=transaction service=smtp-submission id=[a-z0-9]+ ip=127\.0\.0\.1 helo=laptop\.test from=alice@example\.com rcpts=1 size=\d+ result=accepted duration=`)
	if n := len(re.FindAllString(out, -1)); n != 1 {
		t.Errorf("want one transaction line, got %d:\n%s", n, out)
	}
}

func TestDataTimeout(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Limits.DataTimeout = config.D(300 * time.Millisecond)
	addr := startServer(t, opts)
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("Subject: slow\r\n")
	c.expect("421 4.4.2")
	c.expectClosed()
	if n := len(f.inbox("alice@example.com")); n != 0 {
		t.Errorf("partial message delivered")
	}
}
