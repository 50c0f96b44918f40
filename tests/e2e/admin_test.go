package e2e

import (
	"strings"
	"testing"
)

// TestAdminJourney is the README's promise: configure, add a domain and a
// user, serve, receive a message on the SMTP port from Python's smtplib,
// download it with Python's poplib, stop with SIGTERM, restart, and the
// message is still there.
func TestAdminJourney(t *testing.T) {
	in := newInstance(t, instanceOptions{Hostname: "mx.example.test"})
	if out := in.run("", "config check"); !strings.Contains(out, "OK") {
		t.Fatalf("config check: %s", out)
	}
	in.run("", "domain add", "example.test")
	in.run("s3cret-Kate\n", "user add", "--password-stdin", "kate@example.test")
	if out := in.run("", "user list"); !strings.Contains(out, "kate@example.test") {
		t.Fatalf("user list: %s", out)
	}
	in.start()

	host, port := hostPort(t, in.addr["smtp"])
	python(t, "smtp_send.py", host, port, "plain", "john@remote.test", "kate@example.test", "Trip to the mountains")

	// Unknown user and foreign domain are refused at RCPT.
	out := python(t, "smtp_expect_refused.py", host, port, "john@remote.test", "nobody@example.test")
	if !strings.Contains(out, "550") || !strings.Contains(out, "5.1.1") {
		t.Fatalf("unknown user: %s", out)
	}
	out = python(t, "smtp_expect_refused.py", host, port, "john@remote.test", "victim@elsewhere.test")
	if !strings.Contains(out, "550") || !strings.Contains(out, "5.7.1") {
		t.Fatalf("relay attempt: %s", out)
	}

	ph, pp := hostPort(t, in.addr["pop3"])
	got := python(t, "pop3_fetch.py", ph, pp, "kate@example.test", "s3cret-Kate")
	for _, want := range []string{"Subject: Trip to the mountains", "Return-Path: <john@remote.test>", "Received: from", "\n.\nA line with a dot above.", "count 1"} {
		if !strings.Contains(got, want) {
			t.Fatalf("POP3 download lacks %q:\n%s", want, got)
		}
	}

	in.stop()
	in.start()
	got = python(t, "pop3_fetch.py", ph, pp, "kate@example.test", "s3cret-Kate", "dele")
	if !strings.Contains(got, "Subject: Trip to the mountains") {
		t.Fatalf("message lost across restart:\n%s", got)
	}
	got = python(t, "pop3_fetch.py", ph, pp, "kate@example.test", "s3cret-Kate")
	if !strings.Contains(got, "count 0") {
		t.Fatalf("DELE+QUIT did not delete:\n%s", got)
	}
	python(t, "smtp_send.py", host, port, "plain", "john@remote.test", "kate@example.test", "Kept for export")
	in.stop()

	// Maildir export and import (moving out to and in from Dovecot).
	dir := t.TempDir() + "/kate-maildir"
	if out := in.run("", "export maildir", "kate@example.test", dir); !strings.Contains(out, "exported 1 messages") {
		t.Fatalf("export: %s", out)
	}
	in.run("pw2\n", "user add", "--password-stdin", "copy@example.test")
	if out := in.run("", "import maildir", dir, "copy@example.test"); !strings.Contains(out, "imported 1 messages") {
		t.Fatalf("import: %s", out)
	}
	in.start()
	got = python(t, "pop3_fetch.py", ph, pp, "copy@example.test", "pw2")
	if !strings.Contains(got, "Subject: Kept for export") {
		t.Fatalf("imported message not served:\n%s", got)
	}
	in.stop()

	// Admin commands reject nonsense with a clear error.
	if out, err := in.tryRun("", "user add", "--password-stdin", "x@nodomain.test"); err == nil || !strings.Contains(out, "domain nodomain.test") {
		t.Fatalf("user add for unknown domain: %v %s", err, out)
	}
	if out, err := in.tryRun("", "domain remove", "example.test"); err == nil || !strings.Contains(out, "still has") {
		t.Fatalf("domain remove with users: %v %s", err, out)
	}
}
