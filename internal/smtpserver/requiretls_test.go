package smtpserver

import (
	"slices"
	"testing"

	"pochta/internal/auth"
)

// TestREQUIRETLS: REQUIRETLS is advertised only inside TLS (RFC 8689 §3),
// refused on MAIL outside it, and recorded in the queued envelope.
func TestREQUIRETLS(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: true})
	addr := startServer(t, f.options(ModeSubmission))
	c := dialGreeted(t, addr)
	if lines := c.cmd("EHLO laptop.test", "250 "); slices.Contains(lines, "250-REQUIRETLS") {
		t.Fatalf("REQUIRETLS offered in clear: %q", lines)
	}
	c.cmd("AUTH PLAIN "+b64("\x00alice@example.com\x00"+alicePass), "235 ")
	c.cmd("MAIL FROM:<alice@example.com> REQUIRETLS", "530 5.7.10")
	c.cmd("QUIT", "221 ")

	c = dialGreeted(t, addr)
	c.cmd("EHLO laptop.test", "250 ")
	c.startTLS()
	if lines := c.cmd("EHLO laptop.test", "250 "); !slices.Contains(lines, "250-REQUIRETLS") {
		t.Fatalf("REQUIRETLS not offered in TLS: %q", lines)
	}
	c.cmd("AUTH PLAIN "+b64("\x00alice@example.com\x00"+alicePass), "235 ")
	c.cmd("MAIL FROM:<alice@example.com> REQUIRETLS=yes", "501 ")
	c.cmd("MAIL FROM:<alice@example.com> REQUIRETLS", "250 ")
	c.cmd("RCPT TO:<far@remote.example>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd("Subject: secret\r\n\r\nhush\r\n.", "250 ")
	c.cmd("MAIL FROM:<alice@example.com>", "250 ")
	c.cmd("RCPT TO:<far@remote.example>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd("Subject: plain\r\n\r\nhi\r\n.", "250 ")
	c.cmd("QUIT", "221 ")
	q := f.queue.all()
	if len(q) != 2 || !q[0].env.RequireTLS || q[1].env.RequireTLS {
		t.Fatalf("queued %+v", q)
	}
}
