package smtpclient_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"pochta/internal/dns"
	"pochta/internal/dnstest"
	"pochta/internal/envelope"
	"pochta/internal/smtpclient"
)

func (b *backend) counts() (sessions, logouts int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessions, b.logouts
}

// TestConnectionReuse: consecutive messages to one destination share a
// connection (RSET between), at most ReuseLimit messages each; an idle
// connection is closed after ReuseIdle, and by Close.
func TestConnectionReuse(t *testing.T) {
	f := setup(t, []string{"127.0.0.2"}, nil)
	f.opts.ReuseLimit = 3
	f.opts.ReuseIdle = time.Minute
	c := smtpclient.New(f.opts)
	defer c.Close()
	ctx := context.Background()
	for i := range 5 {
		allNil(t, c.Deliver(ctx, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts(fmt.Sprintf("u%d@example.org", i)), []byte(msg)))
	}
	if n := len(f.be.messages()); n != 5 {
		t.Fatalf("%d messages delivered, want 5", n)
	}
	for i, m := range f.be.messages() {
		if len(m.rcpts) != 1 || m.rcpts[0] != fmt.Sprintf("u%d@example.org", i) || string(m.data) != msg {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	// 3 messages on the first connection (then QUIT), 2 on the second,
	// which stays open, idle.
	waitUntil(t, "first connection ended", func() bool { s, l := f.be.counts(); return s == 2 && l == 1 })
	// Another domain's mail never takes that connection.
	allNil(t, c.Deliver(ctx, "noMX.test", envelope.Envelope{From: "a@sender.test"}, rcpts("x@noMX.test"), []byte(msg)))
	if s, _ := f.be.counts(); s != 3 {
		t.Fatalf("%d connections, want 3 (a new one for another domain)", s)
	}
	c.Close()
	waitUntil(t, "idle connections closed", func() bool { s, l := f.be.counts(); return s == 3 && l == 3 })

	// Idle time: a connection unused for ReuseIdle is closed.
	f.opts.ReuseIdle = 20 * time.Millisecond
	c2 := smtpclient.New(f.opts)
	defer c2.Close()
	allNil(t, c2.Deliver(ctx, "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("late@example.org"), []byte(msg)))
	waitUntil(t, "idle connection expired", func() bool { s, l := f.be.counts(); return s == 4 && l == 4 })
}

// TestConnectionReuseRSETRefused: a kept connection that does not answer
// RSET with 250 is dropped and the message goes over a new one.
func TestConnectionReuseRSETRefused(t *testing.T) {
	d := dnstest.Start(t, zone())
	s := startScripted(t, "127.0.0.2:0", map[string]string{
		"":     "220 mx1.example.org ESMTP\r\n",
		"EHLO": "250-mx1.example.org\r\n250 PIPELINING\r\n",
		"MAIL": "250 2.1.0 ok\r\n",
		"RCPT": "250 2.1.5 ok\r\n",
		"DATA": "354 go ahead\r\n",
		".":    "250 2.0.0 queued\r\n",
		"RSET": "421 4.4.2 idle too long\r\n",
		"QUIT": "221 2.0.0 bye\r\n",
	})
	port := s.l.Addr().(*net.TCPAddr).Port
	c := smtpclient.New(smtpclient.Options{Hostname: "pochta.test", Resolver: dns.New([]string{d.Addr()}, 2*time.Second),
		Port: port, CommandTimeout: 5 * time.Second, ReuseLimit: 10, ReuseIdle: time.Minute})
	defer c.Close()
	for range 2 {
		allNil(t, c.Deliver(context.Background(), "example.org", envelope.Envelope{From: "a@sender.test"}, rcpts("b@example.org"), []byte(msg)))
	}
	got := s.dialogue()
	if strings.Count(got, "EHLO") != 2 || !strings.Contains(got, "\nRSET\nEHLO") || strings.Count(got, "DATA") != 2 {
		t.Fatalf("dialogue:\n%s", got)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
