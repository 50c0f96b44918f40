package smtpserver

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"pochta/internal/auth"
)

// traced is a message that already went through n servers.
func traced(n int, subject string) string {
	return strings.Repeat("Received: from relay.test by relay.test;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n", n) +
		"From: <alice@example.com>\r\nTo: <bob@example.com>\r\nSubject: " + subject + "\r\n\r\nbody\r\n"
}

// TestTooManyHops: RFC 5321 §6.3 — a message that arrives with as many
// Received fields as the hop limit (ours would make one more) is refused
// at DATA with 554 5.4.6 and nothing is stored or queued; one field fewer
// passes. Inbound (raw session) and submission (go-smtp's client).
func TestTooManyHops(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: true})
	in := f.options(ModeInbound)
	in.Limits.MaxHops = 100
	addr := startServer(t, in)
	c := dialGreeted(t, addr)
	c.cmd("EHLO relay.test", "250 ")
	for _, tc := range []struct {
		hops  int
		reply string
	}{{101, "554 5.4.6 Too many hops"}, {100, "554 5.4.6 "}, {99, "250 "}} {
		c.cmd("MAIL FROM:<s@remote.example>", "250 ")
		c.cmd("RCPT TO:<bob@example.com>", "250 ")
		c.cmd("DATA", "354 ")
		c.send(traced(tc.hops, "hops") + ".\r\n")
		c.expect(tc.reply)
	}
	c.cmd("QUIT", "221 ")
	got := f.inbox("bob@example.com")
	if len(got) != 1 || strings.Count(got[0], "Received:") != 100 {
		t.Fatalf("bob has %d messages, want the one with 99 hops (100 with ours)", len(got))
	}

	sub := f.options(ModeSubmission)
	sub.Limits.MaxHops = 100
	sc, err := smtp.Dial(startServer(t, sub))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Hello("laptop.test"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Auth(sasl.NewPlainClient("", "alice@example.com", alicePass)); err != nil {
		t.Fatal(err)
	}
	err = sc.SendMail("alice@example.com", []string{"far@remote.example"}, strings.NewReader(traced(101, "submitted")))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 4, 6}) {
		t.Fatalf("submission of 101 hops: %v, want 554 5.4.6", err)
	}
	if q := f.queue.all(); len(q) != 0 {
		t.Fatalf("%d messages queued, want none", len(q))
	}
}

// TestAliasLoopRefused: an alias that leads only back to itself
// (loop1 → loop2 → loop1) is refused at RCPT with 554 5.4.6, not taken
// and bounced later; one that also reaches a mailbox delivers once.
func TestAliasLoopRefused(t *testing.T) {
	f := newFixture(t, auth.Options{})
	ctx := context.Background()
	for alias, targets := range map[string][]string{
		"loop1@example.com": {"loop2@example.com"},
		"loop2@example.com": {"loop1@example.com"},
		"ring1@example.com": {"ring2@example.com"},
		"ring2@example.com": {"ring1@example.com", "alice@example.com"},
	} {
		if err := f.st.AddAlias(ctx, alias, targets); err != nil {
			t.Fatal(err)
		}
	}
	c := dialGreeted(t, startServer(t, f.options(ModeInbound)))
	c.cmd("EHLO relay.test", "250 ")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<loop1@example.com>", "554 5.4.6 ")
	c.cmd("RCPT TO:<ring1@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send(traced(1, "ring") + ".\r\n")
	c.expect("250 ")
	if n := len(f.inbox("alice@example.com")); n != 1 {
		t.Fatalf("alice has %d messages, want 1", n)
	}
}
