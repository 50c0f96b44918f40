package imapserver

import (
	"strconv"
	"strings"
	"testing"
)

// TestFetchWholeMessage checks that every item naming the whole message
// (answered from the raw octets without a MIME parse) returns exactly the
// stored message, alone and mixed with items that need the structure, and
// that the non-PEEK forms still set \Seen (RFC 9051 §6.4.5, RFC 3516).
func TestFetchWholeMessage(t *testing.T) {
	e := newEnv(t, envOptions{})
	raw := "From: a@example.com\r\nTo: alice@example.org\r\nSubject: whole\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nfirst part\r\n--b\r\n\r\nsecond\r\n--b--\r\n"
	e.deliver("", raw)
	e.deliver("", raw)
	c := e.login()
	c.ok("SELECT INBOX")
	n := strconv.Itoa(len(raw))
	lit := "{" + n + "}\r\n" + raw
	lines := c.ok("FETCH 1 (BODY.PEEK[] BINARY.PEEK[] BINARY.SIZE[] RFC822.SIZE BODY.PEEK[]<3.5> BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (Subject)])")
	mustHave(t, lines, "BODY[] "+lit, "BINARY[] "+lit, "BINARY.SIZE[] "+n, "RFC822.SIZE "+n,
		"BODY[]<3> {5}\r\n"+raw[3:8], "BODY[1] {10}\r\nfirst part", "Subject: whole\r\n")
	mustNotHave(t, lines, `\Seen`)
	// Without any structural item the whole-message forms stand alone.
	mustHave(t, c.ok("FETCH 1 BINARY.PEEK[]"), "* 1 FETCH (BINARY[] "+lit+")")
	mustHave(t, c.ok("UID FETCH 1 BODY.PEEK[]"), "* 1 FETCH (UID 1 BODY[] "+lit+")")
	mustHave(t, c.ok("FETCH 1 RFC822"), "RFC822 "+lit, `FLAGS (\Seen \Recent)`)
	mustHave(t, c.ok("FETCH 2 BINARY[]"), "BINARY[] "+lit, `FLAGS (\Seen \Recent)`)
	if lines := c.ok("FETCH 1:2 (BODY.PEEK[] BODYSTRUCTURE)"); len(lines) != 2 || !strings.Contains(lines[1], `"MIXED" ("BOUNDARY" "b")`) {
		t.Fatalf("%q", lines)
	}
}
