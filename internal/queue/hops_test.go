package queue

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"pochta/internal/dkim"
	"pochta/internal/dns"
	"pochta/internal/dnstest"
	"pochta/internal/envelope"
	"pochta/internal/reply"
)

// TestTooManyHopsBounced: RFC 5321 §6.3 — a queued message that carries
// more Received fields than Options.MaxHops is never handed on (to the
// remote MTA or to local delivery); its sender gets a DSN with 5.4.6.
func TestTooManyHopsBounced(t *testing.T) {
	e := newEnv(t)
	opts := e.options()
	opts.MaxHops = 20
	e.open(opts)
	looped := append([]byte(strings.Repeat("Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n", 21)), testMsg("looped")...)
	if _, err := e.enqueue(envFrom("alice@local.test", "x@remote.test", "bob@local.test"), looped); err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	if n := e.remote.callCount(); n != 0 {
		t.Fatalf("%d remote calls, want none", n)
	}
	if n := len(e.inbox("bob@local.test")); n != 0 {
		t.Fatalf("bob got %d messages, want none", n)
	}
	box := e.inbox("alice@local.test")
	if len(box) != 1 {
		t.Fatalf("sender has %d messages, want 1 DSN", len(box))
	}
	d := parseDSN(t, box[0])
	if len(d.PerRcpt) != 2 {
		t.Fatalf("DSN for %d recipients, want 2", len(d.PerRcpt))
	}
	for _, r := range d.PerRcpt {
		if r.Get("Status") != "5.4.6" || r.Get("Action") != "failed" || !strings.Contains(r.Get("Diagnostic-Code"), "Too many hops") {
			t.Errorf("recipient block %v", r.Map())
		}
	}
	// Twenty hops pass.
	if _, err := e.enqueue(envFrom("alice@local.test", "x@remote.test"), looped[bytes.Index(looped, []byte("\r\n"))+2:]); err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	if n := e.remote.callCount(); n != 1 {
		t.Fatalf("%d remote calls, want 1", n)
	}
}

// dkimSetup makes an Ed25519 key for local.test, published in test DNS,
// and returns its signer and a check that a message carries exactly one
// valid signature of local.test.
func dkimSetup(t *testing.T) (*dkim.Signer, func(what string, msg []byte)) {
	t.Helper()
	dir := t.TempDir()
	if _, err := dkim.Keygen(dir, "local.test", "s1", "ed25519"); err != nil {
		t.Fatal(err)
	}
	signer, err := dkim.LoadSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := signer.Keys()[0]
	srv := dnstest.Start(t, dnstest.Zone{k.TXTName(): {TXT: []string{k.TXTValue()}}})
	return signer, func(what string, msg []byte) {
		t.Helper()
		vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{
			LookupTXT: dns.New([]string{srv.Addr()}, 2*time.Second).TXTFunc(context.Background()),
		})
		if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "local.test" {
			t.Fatalf("%s: DKIM verification %v %+v\n%s", what, err, vs, msg)
		}
	}
}

// TestDSNSigned: a DSN leaves DKIM-signed by Options.Signer with the key
// of its From domain (MAILER-DAEMON@mx.local.test: local.test's key), and
// the signature verifies against the record published in (test) DNS; the
// message it reports on is not signed by the queue.
func TestDSNSigned(t *testing.T) {
	signer, verify := dkimSetup(t)
	e := newEnv(t)
	e.remote.script = func(call int, _ string, rcpts []envelope.Recipient) []error {
		if call == 0 {
			return all(rcpts, reply.New(550, "5.1.1", "No such user"))
		}
		return nil
	}
	opts := e.options()
	opts.Signer = signer
	e.open(opts)
	if _, err := e.enqueue(envFrom("ext@far.test", "gone@other.test"), testMsg("signed")); err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	calls := e.remote.snapshot()
	if len(calls) != 2 || calls[1].Rcpts[0] != "ext@far.test" {
		t.Fatalf("remote calls %+v, want the message and its DSN", calls)
	}
	verify("DSN", calls[1].Content)
	if bytes.Contains(calls[0].Content, []byte("DKIM-Signature")) {
		t.Error("the relayed message was signed by the queue")
	}
}

// TestRedactedDSNSigned: the redacted copy of a REQUIRETLS DSN (RFC 8689
// §5) drops the DSN's signature, which covered the removed part, and is
// signed again: each copy carries one valid signature.
func TestRedactedDSNSigned(t *testing.T) {
	signer, verify := dkimSetup(t)
	e := newEnv(t)
	e.remote.script = func(call int, _ string, rcpts []envelope.Recipient) []error {
		if call < 2 { // the message, then its DSN with REQUIRETLS
			return all(rcpts, reply.New(550, "5.7.30", "REQUIRETLS support required"))
		}
		return nil
	}
	opts := e.options()
	opts.Signer = signer
	e.open(opts)
	env := envFrom("ext@far.test", "x@other.test")
	env.RequireTLS = true
	if _, err := e.enqueue(env, testMsg("secret")); err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	calls := e.remote.snapshot()
	if len(calls) != 3 {
		t.Fatalf("%d remote calls, want the message, its DSN and the redacted DSN", len(calls))
	}
	verify("DSN", calls[1].Content)
	verify("redacted DSN", calls[2].Content)
	if bytes.Contains(calls[2].Content, []byte("Subject: secret")) {
		t.Fatalf("redacted DSN returns the header:\n%s", calls[2].Content)
	}
}
