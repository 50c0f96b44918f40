package smtpserver

import (
	"bufio"
	"crypto/tls"
	"strings"
	"testing"

	"pochta/internal/auth"
)

// TestSmuggling sends SMTP smuggling payloads (CVE-2023-51766 and
// relatives): a second message hidden behind a non-CRLF end-of-data. Each
// must end in exactly one refusal, and neither message may be delivered.
func TestSmuggling(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	smuggled := "MAIL FROM:<admin@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n"
	for name, sep := range map[string]string{
		"bare LF dot CRLF": "\n.\r\n",
		"CRLF dot LF":      "\r\n.\n",
		"bare LF dot LF":   "\n.\n",
		"bare CR dot CR":   "\r.\r",
		"CRLF dot CR":      "\r\n.\r",
		"bare CR dot CRLF": "\r.\r\n",
		"CRLF dot bare CR": "\r\n.\rX\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c := dialGreeted(t, addr)
			c.cmd("EHLO client.test", "250 ")
			c.cmd("MAIL FROM:<s@remote.example>", "250 ")
			c.cmd("RCPT TO:<alice@example.com>", "250 ")
			c.cmd("DATA", "354 ")
			c.send("Subject: first\r\n\r\nbody" + sep + smuggled + ".\r\n")
			c.expect("550 5.6.0")
			c.cmd("NOOP", "250 ") // nothing of the smuggled commands was executed
			c.cmd("QUIT", "221 ")
		})
	}
	if n := len(f.inbox("alice@example.com")); n != 0 {
		t.Errorf("alice got %d messages", n)
	}
	if n := len(f.inbox("bob@example.com")); n != 0 {
		t.Errorf("smuggled message delivered to bob (%d)", n)
	}
	// A clean message after all that is still fine.
	deliverRaw(t, addr, "s@remote.example", []string{"alice@example.com"}, "Subject: ok\r\n\r\n.leading dot\r\n", "250 ")
	got := f.inbox("alice@example.com")
	if len(got) != 1 || !strings.HasSuffix(got[0], "\r\n\r\nleading dot\r\n") {
		t.Errorf("inbox %q", got)
	}
}

func TestBDATSmuggling(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	payload := "Subject: a\r\n\r\nx\n.\r\nMAIL FROM:<a@example.com>\r\n"
	c.send("MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@example.com>\r\nBDAT " + itoa(len(payload)) + " LAST\r\n" + payload)
	c.expect("250 ")
	c.expect("250 ")
	c.expect("550 5.6.0")
	c.cmd("RCPT TO:<bob@example.com>", "503 ") // the smuggled MAIL was never a command
	if n := len(f.inbox("alice@example.com")); n != 0 {
		t.Errorf("BDAT with bare LF delivered")
	}
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// TestSTARTTLSInjection: commands pipelined behind STARTTLS in plaintext
// must be discarded, not executed inside TLS (CVE-2011-0411).
func TestSTARTTLSInjection(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := startServer(t, f.options(ModeInbound))
	c := dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250 ")
	c.send("STARTTLS\r\nEHLO evil.test\r\nMAIL FROM:<evil@remote.example>\r\n")
	c.expect("220 ")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	// State was reset: no EHLO, no MAIL survived.
	c.cmd("MAIL FROM:<s@remote.example>", "503 5.5.1")
	c.cmd("RCPT TO:<alice@example.com>", "503 5.5.1")
	c.cmd("EHLO client.test", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "503 5.5.1")
	c.cmd("MAIL FROM:<s@remote.example>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("Subject: tls\r\n\r\nx\r\n.\r\n")
	c.expect("250 ")
	got := f.inbox("alice@example.com")
	if len(got) != 1 || !strings.Contains(got[0], "by mx.test with ESMTPS id") {
		t.Errorf("inbox %q", got)
	}
}
