package smtpserver

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"pochta/internal/auth"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestSubmissionAuthPlain(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: true})
	addr := startServer(t, f.options(ModeSubmission))
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("laptop.test"); err != nil {
		t.Fatal(err)
	}
	var se *smtp.SMTPError
	if err := c.Mail("alice@example.com", nil); !errors.As(err, &se) || se.Code != 530 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 0}) {
		t.Fatalf("MAIL before AUTH: %v, want 530 5.7.0", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.com", "wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.com", alicePass)); err != nil {
		t.Fatal(err)
	}
	msg := "From: Alice <alice@example.com>\r\nTo: bob@example.com, far@remote.example\r\nSubject: sub\r\n\r\nhi\r\n"
	if err := c.SendMail("alice@example.com", []string{"bob@example.com", "far@remote.example"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	got := f.inbox("bob@example.com")
	if len(got) != 1 {
		t.Fatalf("bob has %d", len(got))
	}
	re := regexp.MustCompile(`Received: from laptop\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test with ESMTPA id [a-z0-9]+;\r\n\t.*\r\nMessage-ID: <[a-z0-9]+@mx\.test>\r\nDate: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}\r\nFrom: Alice`)
	if !re.MatchString(got[0]) {
		t.Errorf("submitted message:\n%q", got[0])
	}
	q := f.queue.all()
	if len(q) != 1 || q[0].env.Authenticated != "alice@example.com" || q[0].env.Recipients[0].Address != "far@remote.example" ||
		!strings.Contains(string(q[0].content), "Message-ID: <") {
		t.Errorf("queue %+v", q)
	}
}

func TestSubmissionAuthLoginRaw(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: true})
	addr := startServer(t, f.options(ModeSubmission))
	c := dialGreeted(t, addr)
	c.cmd("HELO laptop.test", "250 ")
	c.cmd("AUTH LOGIN", "503 5.5.1") // needs EHLO
	c.cmd("EHLO laptop.test", "250 ")
	c.cmd("AUTH CRAM-MD5", "504 5.5.4")
	c.cmd("AUTH LOGIN", "334 "+b64("Username:"))
	c.cmd("*", "501 5.0.0")
	c.cmd("AUTH LOGIN", "334 ")
	c.cmd("!!notbase64", "501 5.5.2")
	c.cmd("AUTH LOGIN "+b64("bob@example.com"), "334 "+b64("Password:"))
	c.cmd(b64("nope"), "535 5.7.8")
	c.cmd("AUTH PLAIN", "334 ")
	c.cmd(b64("\x00bob@example.com\x00"+bobPass), "235 2.7.0")
	c.cmd("AUTH PLAIN", "503 5.5.1")
	// EnforceSender: envelope and header.
	c.cmd("MAIL FROM:<alice@example.com>", "553 5.7.1")
	c.cmd("MAIL FROM:<>", "553 5.7.1")
	c.cmd("MAIL FROM:<bob+tag@example.com>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("From: alice@example.com\r\nSubject: forged\r\n\r\nx\r\n.\r\n")
	c.expect("553 5.7.1")
	c.cmd("MAIL FROM:<team@example.com>", "250 ") // alias delivering to bob
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("From: Bob <bob@example.com>, Team <team@example.com>\r\nMessage-ID: <given@laptop.test>\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nSubject: ok\r\n\r\nx\r\n.\r\n")
	c.expect("250 ")
	got := f.inbox("alice@example.com")
	if len(got) != 1 || strings.Count(got[0], "Message-ID:") != 1 || strings.Count(got[0], "Date:") != 1 {
		t.Errorf("inbox %q", got)
	}
}

func TestSubmissionRequiresTLS(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: false})
	addr := startServer(t, f.options(ModeSubmission))
	c := dialGreeted(t, addr)
	lines := c.cmd("EHLO laptop.test", "250 ")
	if strings.Contains(strings.Join(lines, "\n"), "AUTH") {
		t.Errorf("AUTH offered without TLS: %q", lines)
	}
	c.cmd("AUTH PLAIN "+b64("\x00alice@example.com\x00"+alicePass), "538 5.7.11")
	c.cmd("MAIL FROM:<alice@example.com>", "530 5.7.0")
	c.startTLS()
	c.cmd("AUTH PLAIN "+b64("\x00alice@example.com\x00"+alicePass), "503 5.5.1") // EHLO again first
	lines = c.cmd("EHLO laptop.test", "250 ")
	if lines[len(lines)-1] != "250 AUTH PLAIN LOGIN" {
		t.Errorf("EHLO in TLS %q", lines)
	}
	c.cmd("AUTH PLAIN "+b64("\x00alice@example.com\x00"+alicePass), "235 ")
	c.cmd("MAIL FROM:<alice@example.com>", "250 ")
	c.cmd("RCPT TO:<bob@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("From: alice@example.com\r\n\r\nx\r\n.\r\n")
	c.expect("250 ")
	if got := f.inbox("bob@example.com"); len(got) != 1 || !strings.Contains(got[0], "with ESMTPSA id") {
		t.Errorf("bob %q", got)
	}
}

func TestSubmissionImplicitTLS(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeSubmission)
	opts.ImplicitTLS = true
	addr := startServer(t, opts)
	c, err := smtp.DialTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered on implicit TLS")
	}
	if err := c.Auth(sasl.NewLoginClient("alice@example.com", alicePass)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("alice@example.com", []string{"bob@example.com"}, strings.NewReader("From: alice@example.com\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := f.inbox("bob@example.com"); len(got) != 1 {
		t.Errorf("bob has %d", len(got))
	}
}

// TestPythonSmtplib submits with a real third-party client: STARTTLS,
// AUTH and sendmail from Python's smtplib.
func TestPythonSmtplib(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: false})
	addr := startServer(t, f.options(ModeSubmission))
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("python3", "testdata/submit.py", host, port, "alice@example.com", alicePass, "alice@example.com", "bob@example.com").CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	for _, kw := range []string{"auth", "8bitmime", "pipelining", "smtputf8", "chunking", "dsn", "size"} {
		if !strings.Contains(string(out), kw) {
			t.Errorf("smtplib did not see %s: %s", kw, out)
		}
	}
	got := f.inbox("bob@example.com")
	if len(got) != 1 || !strings.Contains(got[0], "Subject: from python") || !strings.Contains(got[0], "from python.test ([127.0.0.1])") {
		t.Errorf("bob %q", got)
	}
}
