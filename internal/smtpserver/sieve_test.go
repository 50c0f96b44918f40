package smtpserver

import (
	"context"
	"strings"
	"testing"

	"pochta/internal/auth"
)

// Sieve runs inside local delivery, synchronously, so a reject is the
// SMTP reply after DATA, and fileinto/redirect happen before the 250.
func TestSieveOverSMTP(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: true})
	f.mda.SetSieve(f.st)
	ctx := context.Background()
	alice, err := f.st.GetAccount(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	script := `require ["reject", "fileinto"];
if header :contains "subject" "offer" { reject "No offers, thank you."; }
elsif header :contains "subject" "report" { fileinto "Reports"; }
elsif header :contains "subject" "private" { redirect "alice@home.example"; }
`
	if err := f.st.PutSieveScript(ctx, alice.ID, "main", script); err != nil {
		t.Fatal(err)
	}
	if err := f.st.ActivateSieveScript(ctx, alice.ID, "main"); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, f.options(ModeInbound))
	send := func(subject, rcpt, want string) {
		t.Helper()
		c := dialGreeted(t, addr)
		c.cmd("EHLO client.test", "250 ")
		c.cmd("MAIL FROM:<sender@remote.example>", "250 ")
		c.cmd("RCPT TO:<"+rcpt+">", "250 ")
		c.cmd("DATA", "354 ")
		c.cmd("From: sender@remote.example\r\nTo: "+rcpt+"\r\nSubject: "+subject+"\r\n\r\nHello.\r\n.", want)
		c.cmd("QUIT", "221 ")
	}
	send("A special offer", "alice@example.com", "550 5.7.1 No offers, thank you.")
	send("Q3 report", "alice@example.com", "250 ")
	send("private matter", "alice@example.com", "250 ")
	send("hello", "alice@example.com", "250 ")
	if n := len(f.inbox("alice@example.com")); n != 1 {
		t.Fatalf("INBOX has %d messages, want 1 (reject stored nothing)", n)
	}
	mb, err := f.st.GetMailbox(ctx, alice.ID, "Reports")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := f.st.Status(ctx, mb.ID); st.Messages != 1 {
		t.Fatalf("Reports has %d messages", st.Messages)
	}
	q := f.queue.all()
	if len(q) != 1 || q[0].env.From != "sender@remote.example" || len(q[0].env.Recipients) != 1 || q[0].env.Recipients[0].Address != "alice@home.example" {
		t.Fatalf("redirect queued %+v", q)
	}
	if !strings.Contains(string(q[0].content), "Subject: private matter") {
		t.Fatalf("redirected content %q", q[0].content)
	}

	// With another recipient that takes the message, the refusing one is
	// handed to the queue, whose retry refuses again and bounces to the
	// sender with the reason (RFC 5429 §2.1's DSN-style reject).
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("MAIL FROM:<sender@remote.example>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("RCPT TO:<bob@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.cmd("Subject: another offer\r\n\r\nHello.\r\n.", "250 ")
	q = f.queue.all()
	if len(q) != 2 || len(q[1].env.Recipients) != 1 || q[1].env.Recipients[0].Address != "alice@example.com" {
		t.Fatalf("queued after a partial reject: %+v", q)
	}
	if len(f.inbox("bob@example.com")) != 1 || len(f.inbox("alice@example.com")) != 1 {
		t.Fatal("bob lost his copy or alice got one")
	}
}
