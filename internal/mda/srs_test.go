package mda

import (
	"context"
	"strings"
	"testing"
	"time"

	"pochta/internal/envelope"
	"pochta/internal/reply"
	"pochta/internal/srs"
)

func setupSRS(t *testing.T, now *time.Time) (*fixture, *recorder) {
	f := setup(t)
	rw, err := srs.New([][]byte{[]byte("secret")}, 0, func() time.Time { return *now })
	must(t, err)
	rec := &recorder{}
	f.d.SetForwarder(rec)
	f.d.SetSRS(rw)
	return f, rec
}

func TestForwardRewritesSenderAndBounceReturns(t *testing.T) {
	now := time.Unix(1700000000, 0)
	f, rec := setupSRS(t, &now)
	ctx := context.Background()
	deliver := func(from, rcpt string) error {
		return f.d.Deliver(ctx, envelope.Envelope{From: from, Recipients: []envelope.Recipient{{Address: rcpt}}}, []byte("Subject: x\r\n\r\nx\r\n"))[0]
	}
	must(t, deliver("alice@sender.test", "out@a.test"))
	if len(rec.envs) != 1 || rec.envs[0].Recipients[0].Address != "someone@remote.test" {
		t.Fatalf("forwarded: %+v", rec.envs)
	}
	srsFrom := rec.envs[0].From
	if !strings.HasPrefix(srsFrom, "SRS0=") || !strings.HasSuffix(srsFrom, "=sender.test=alice@a.test") {
		t.Fatalf("MAIL FROM not rewritten at the alias's domain: %q", srsFrom)
	}
	// The bounce: null sender, to the SRS address, goes to alice.
	must(t, f.d.CheckRecipient(ctx, srsFrom, 0))
	must(t, deliver("", srsFrom))
	if b := rec.envs[1]; b.From != "" || len(b.Recipients) != 1 || b.Recipients[0].Address != "alice@sender.test" {
		t.Fatalf("bounce forwarded as %+v", b)
	}
	// Neither the null sender nor our own domains' senders are rewritten.
	must(t, deliver("kate@a.test", "out@a.test"))
	if rec.envs[2].From != "kate@a.test" {
		t.Fatalf("local sender rewritten: %q", rec.envs[2].From)
	}
	// Forged (b.test has a catch-all, which must not swallow it) and expired.
	forged := strings.Replace(srsFrom, "alice", "mallory", 1)
	for _, bad := range []string{forged, strings.Replace(forged, "@a.test", "@b.test", 1), "SRS0=xxxx=AA=x.test=y@a.test"} {
		if err := f.d.CheckRecipient(ctx, bad, 0); !sameReply(err, errBadSRS) {
			t.Errorf("forged %s: %v", bad, err)
		}
	}
	now = now.Add(22 * 24 * time.Hour)
	if err := f.d.CheckRecipient(ctx, srsFrom, 0); !sameReply(err, errBadSRS) {
		t.Errorf("expired SRS address: %v", err)
	}
}

func sameReply(err error, want *reply.Error) bool {
	got, ok := reply.As(err)
	return ok && got.Code == want.Code && got.Enhanced == want.Enhanced
}

// TestSieveRedirectUsesSRS: a Sieve redirect to another domain leaves
// with the sender rewritten at the account's domain, and the bounce to
// that address comes back to the original sender.
func TestSieveRedirectUsesSRS(t *testing.T) {
	now := time.Unix(1700000000, 0)
	f, rec := setupSRS(t, &now)
	f.d.SetSieve(f.st)
	ctx := context.Background()
	f.setScript(t, "kate@a.test", `redirect "kate.private@remote.test";`)
	env := envelope.Envelope{From: "alice@sender.test", Recipients: []envelope.Recipient{{Address: "kate@a.test"}}}
	must(t, f.d.Deliver(ctx, env, []byte("Subject: x\r\n\r\nx\r\n"))[0])
	if len(rec.envs) != 1 || rec.envs[0].Recipients[0].Address != "kate.private@remote.test" {
		t.Fatalf("redirected: %+v", rec.envs)
	}
	srsFrom := rec.envs[0].From
	if !strings.HasPrefix(srsFrom, "SRS0=") || !strings.HasSuffix(srsFrom, "=sender.test=alice@a.test") {
		t.Fatalf("redirect's MAIL FROM not rewritten: %q", srsFrom)
	}
	must(t, f.d.CheckRecipient(ctx, srsFrom, 0))
	bounce := envelope.Envelope{From: "", Recipients: []envelope.Recipient{{Address: srsFrom}}}
	must(t, f.d.Deliver(ctx, bounce, []byte("Subject: Undelivered\r\n\r\nx\r\n"))[0])
	if b := rec.envs[1]; b.From != "" || len(b.Recipients) != 1 || b.Recipients[0].Address != "alice@sender.test" {
		t.Fatalf("bounce to the SRS address went to %+v", b)
	}
}
