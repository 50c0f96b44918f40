package smtpserver

import (
	"fmt"
	"net/smtp"
	"strings"
	"sync"
	"testing"

	"pochta/internal/auth"
)

// TestReconnectAtPerIPLimit is a load generator's pattern: as many
// sessions as the per-IP limit allows, each sending QUIT and reconnecting
// at once, round after round. None may be refused: a connection stops
// counting before its 221 is sent.
func TestReconnectAtPerIPLimit(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Limits.MaxConnectionsPerIP = 10
	addr := startServer(t, opts)
	const rounds = 20
	var wg sync.WaitGroup
	errs := make(chan error, opts.Limits.MaxConnectionsPerIP*rounds)
	for g := 0; g < opts.Limits.MaxConnectionsPerIP; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				c, err := smtp.Dial(addr)
				if err != nil {
					errs <- fmt.Errorf("round %d: %w", r, err)
					return
				}
				if err := c.Hello("load.test"); err != nil {
					errs <- err
				}
				if err := c.Quit(); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPerIPExemptLoopback: by default loopback is exempt from the per-IP
// limit (not from the total); an empty exception list is not.
func TestPerIPExemptLoopback(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Limits.ConnectionLimitExceptions = nil // the default: loopback
	opts.Limits.MaxConnectionsPerIP = 2
	opts.Limits.MaxConnections = 5
	addr := startServer(t, opts)
	for i := 0; i < 5; i++ {
		dialGreeted(t, addr)
	}
	c := dial(t, addr)
	c.expect("421 4.7.0 mx.test Too many connections, try")
	c.expectClosed()
}

// TestRcptCountsEveryCommand: duplicates and refused recipients count
// toward max_recipients, so one transaction costs at most that many
// recipient checks.
func TestRcptCountsEveryCommand(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Limits.MaxRecipients = 3
	addr := startServer(t, opts)
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("RCPT TO:<ALICE@example.com>", "250 ") // duplicate
	c.cmd("RCPT TO:<nobody@example.com>", "550 5.1.1")
	c.cmd("RCPT TO:<bob@example.com>", "452 4.5.3")
	c.cmd("DATA", "354 ")
	c.send("Subject: x\r\n\r\nx\r\n.\r\n")
	c.expect("250 ")
	if n := len(f.inbox("alice@example.com")); n != 1 {
		t.Errorf("alice has %d messages, want 1", n)
	}
	if n := len(f.inbox("bob@example.com")); n != 0 {
		t.Errorf("bob has %d messages, want 0", n)
	}
	// A new transaction starts a new count.
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<bob@example.com>", "250 ")
}

// TestRcptForeverEndsSession: a client that ignores 452 and repeats a
// duplicate RCPT forever is closed once the junk limit is passed.
func TestRcptForeverEndsSession(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Limits.MaxRecipients = 2
	opts.Limits.MaxJunkCommands = 5
	addr := startServer(t, opts)
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	for i := 0; i < 5; i++ {
		c.cmd("RCPT TO:<alice@example.com>", "452 4.5.3")
	}
	c.cmd("RCPT TO:<alice@example.com>", "421 4.7.0")
	c.expectClosed()
}

// TestJunkCommandLimit: NOOP, RSET, VRFY, EXPN, HELP and a repeated EHLO
// or HELO are junk; one past the limit gets 421 4.7.0 and the connection
// is closed. The first EHLO, and the EHLO that RFC 3207 requires after
// STARTTLS, are not junk.
func TestJunkCommandLimit(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Limits.MaxJunkCommands = 6
	addr := startServer(t, opts)
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.startTLS()
	c.cmd("EHLO client.test", "250 ")
	c.cmd("NOOP", "250 ")
	c.cmd("RSET", "250 ")
	c.cmd("VRFY alice", "252 ")
	c.cmd("EXPN team", "502 ")
	c.cmd("HELP", "214 ")
	c.cmd("HELO client.test", "250 ")
	c.cmd("EHLO client.test", "421 4.7.0")
	c.expectClosed()
}

// TestJunkCountResetByDelivery: a long session that delivers mail may
// send RSET/NOOP between messages forever.
func TestJunkCountResetByDelivery(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Limits.MaxJunkCommands = 2
	addr := startServer(t, opts)
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	for i := 0; i < 5; i++ {
		c.cmd("RSET", "250 ")
		c.cmd("NOOP", "250 ")
		c.cmd("MAIL FROM:<s@remote.example>", "250 ")
		c.cmd("RCPT TO:<alice@example.com>", "250 ")
		c.cmd("DATA", "354 ")
		c.send("Subject: " + strings.Repeat("x", i+1) + "\r\n\r\nx\r\n.\r\n")
		c.expect("250 ")
	}
	c.cmd("NOOP", "250 ")
	c.cmd("NOOP", "250 ")
	c.cmd("NOOP", "421 4.7.0")
	c.expectClosed()
	if n := len(f.inbox("alice@example.com")); n != 5 {
		t.Errorf("alice has %d messages, want 5", n)
	}
}
