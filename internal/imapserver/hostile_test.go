package imapserver

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// hugeLine sends 10 MB of one command line that never ends, from a
// goroutine (the server stops reading long before), and checks that the
// server answers BYE at once and closes while another session is served.
func hugeLine(t *testing.T, e *testEnv, c *rawClient, prefix string) {
	t.Helper()
	sent := make(chan error, 1)
	go func() {
		c.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		chunk := []byte(strings.Repeat("x", 64<<10))
		_, err := c.c.Write([]byte(prefix))
		for i := 0; err == nil && i < (10<<20)/len(chunk); i++ {
			_, err = c.c.Write(chunk)
		}
		sent <- err
	}()
	if l := c.line(); l != "* BYE Command line too long" {
		t.Fatalf("got %q", l)
	}
	// The connection is closed (EOF, or a reset once the client's data
	// hits a closed socket), not left waiting for the end of the line.
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.r.ReadByte(); err == nil {
		t.Fatal("connection still open after BYE")
	} else if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		t.Fatal("connection still open after BYE")
	}
	c.c.Close()
	<-sent
	e.login().ok("NOOP")
}

func TestHugeCommandLine(t *testing.T) {
	e := newEnv(t, envOptions{})
	hugeLine(t, e, e.dial(), "a LOGIN ")
	c := e.login()
	c.ok("SELECT INBOX")
	hugeLine(t, e, c, "a SEARCH SUBJECT ")
}

// A line of exactly the limit is still a command.
func TestCommandLineAtLimit(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	pad := maxLineLength - len("T2 NOOP ")
	_, st := c.run("NOOP " + strings.Repeat("x", pad))
	if !strings.HasPrefix(st, "BAD") {
		t.Fatalf("got %q", st)
	}
	c.ok("NOOP")
}

// Malformed commands get a tagged BAD and the session goes on.
func TestSyntaxErrorsKeepSession(t *testing.T) {
	e := newEnv(t, envOptions{maxErrors: 1000})
	e.deliver("", testMessage(1, "one"))
	e.deliver("", testMessage(2, "two"))
	c := e.login()
	c.ok("SELECT INBOX")
	for _, cmd := range []string{
		"FETCH 1,,2 FLAGS",
		"FETCH ,1 FLAGS",
		"FETCH 1, FLAGS",
		"FETCH 1:,2 FLAGS",
		"FETCH 0 FLAGS",
		"FETCH 99999999999 FLAGS",
		"FETCH 1 (FLAGS",
		"FETCH 1 ()",
		"FETCH 1 BODY[HEADER.FIELDS ()]",
		"FETCH 1 BODY[HEADER.FIELDS (a]",
		"FETCH 1 BODY[1.]",
		"FETCH 1 BODY[]<1.x>",
		"UID FETCH 1,,2 FLAGS",
		"STORE 1 +FLAGS (\\Seen",
		"STORE 1,,2 +FLAGS (\\Seen)",
		"STORE 1 FROB (\\Seen)",
		"COPY 1,,2 INBOX",
		"SEARCH OR SEEN",
		"SEARCH (SEEN",
		"SEARCH 1,,2",
		"SEARCH SINCE 99-Foo-2020",
		"SEARCH " + strings.Repeat("(", 100) + "SEEN" + strings.Repeat(")", 100),
		"SEARCH " + strings.Repeat("NOT ", 100) + "SEEN",
		"SORT (DATE) UTF-8",
		"SELECT \"unterminated",
		"LIST \"\"",
		"STATUS INBOX (FROB)",
		"APPEND INBOX (\\Seen",
		"\x01\x02",
	} {
		lines, st := c.run(cmd)
		if !strings.HasPrefix(st, "BAD") {
			t.Fatalf("%q: got %q (untagged %q)", cmd, st, lines)
		}
		mustNotHave(t, lines, "BYE")
	}
	mustHave(t, c.ok("FETCH 1:2 FLAGS"), "* 2 FETCH")
}

// Many header field names are refused; up to the bound they are matched
// in time linear in names plus fields.
func TestHeaderFieldsBound(t *testing.T) {
	e := newEnv(t, envOptions{})
	var hdr strings.Builder
	for i := 0; i < 5000; i++ {
		hdr.WriteString("X-H" + strconv.Itoa(i) + ": v" + strconv.Itoa(i) + "\r\n")
	}
	e.deliver("", hdr.String()+testMessage(1, "many headers"))
	c := e.login()
	c.ok("SELECT INBOX")
	names := make([]string, 10000)
	for i := range names {
		names[i] = "h" + strconv.Itoa(i+1)
	}
	c.expect("FETCH 1 BODY.PEEK[HEADER.FIELDS ("+strings.Join(names, " ")+")]", "BAD")

	names = names[:maxHeaderFields]
	names[0], names[1] = "x-h4999", "SUBJECT"
	items := make([]string, 20)
	for i := range items {
		names[2] = "x-h" + strconv.Itoa(i)
		items[i] = "BODY.PEEK[HEADER.FIELDS (" + strings.Join(names, " ") + ")]"
	}
	lines := c.ok("FETCH 1 (" + strings.Join(items, " ") + ")")
	mustHave(t, lines, "X-H4999: v4999\r\nSubject: many headers\r\n\r\n", "X-H19: v19\r\nX-H4999")
	lines = c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (" + strings.Join(names, " ") + ")]")
	mustNotHave(t, lines, "X-H4999:", "Subject:")
	mustHave(t, lines, "X-H4998: v4998\r\n")
}

// A search program is bounded in size, and sequence sets in it are looked
// up, not walked, per message.
func TestSearchBounds(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 50; i++ {
		e.deliver("", testMessage(i, "s"))
	}
	c := e.login()
	c.ok("SELECT INBOX")
	c.expect("SEARCH "+strings.TrimSpace(strings.Repeat("SEEN ", maxSearchKeys+1)), "BAD")
	// Within every per-list and depth bound, but too many nodes in all.
	group := "(" + strings.TrimSpace(strings.Repeat("SEEN ", 30)) + ")"
	c.expect("SEARCH "+strings.TrimSpace(strings.Repeat(group+" ", maxSearchKeys/30)), "BAD")
	c.ok("SEARCH " + strings.TrimSpace(strings.Repeat(group+" ", maxSearchKeys/40)))

	// Text keys: repeated ones are one index query; too many different
	// ones are refused.
	mustHave(t, c.ok("SEARCH "+strings.TrimSpace(strings.Repeat("SUBJECT s TEXT body ", 400))), "* SEARCH 1 2 3")
	var text []string
	for i := 0; i <= maxTextKeys; i++ {
		text = append(text, "BODY w"+strconv.Itoa(i))
	}
	c.expect("SEARCH "+strings.Join(text, " "), "NO [LIMIT]")
	c.ok("SEARCH " + strings.Join(text[:maxTextKeys], " "))

	// Odd numbers as sets, ten times over.
	sets := oddSet(maxSeqRanges)
	lines := c.ok("SEARCH " + strings.TrimSpace(strings.Repeat(oddSet(1000)+" ", 10)))
	mustHave(t, lines, "* SEARCH 1 3 5 7 9 ")
	mustNotHave(t, lines, " 2 ")
	lines = c.ok("UID SEARCH UID " + sets)
	mustHave(t, lines, " 47 49")
	mustNotHave(t, lines, " 50")
	c.expect("SEARCH "+sets+",1", "BAD")
}

// QRESYNC's known-uids (RFC 7162 §3.2.5) may be a long set; it is resolved
// once, and UIDs above the mailbox's largest still count.
func TestQresyncKnownUIDs(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 5; i++ {
		e.deliver("", testMessage(i, "q"))
	}
	c := e.login()
	c.ok("ENABLE QRESYNC")
	var validity, modseq string
	for _, l := range c.ok("SELECT INBOX") {
		if f := strings.Fields(l); len(f) > 3 && f[2] == "[UIDVALIDITY" {
			validity = strings.TrimSuffix(f[3], "]")
		} else if len(f) > 3 && f[2] == "[HIGHESTMODSEQ" {
			modseq = strings.TrimSuffix(f[3], "]")
		}
	}
	c.ok(`STORE 2,5 +FLAGS (\Deleted)`)
	c.ok("EXPUNGE")
	lines := c.ok("SELECT INBOX (QRESYNC (" + validity + " " + modseq + " " + oddSet(maxSeqRanges) + "))")
	mustHave(t, lines, "* VANISHED (EARLIER) 5")
	mustNotHave(t, lines, "EARLIER) 2")
	lines = c.ok("SELECT INBOX (QRESYNC (" + validity + " " + modseq + " 2:3))")
	mustHave(t, lines, "* VANISHED (EARLIER) 2")
	mustNotHave(t, lines, "EARLIER) 2,5")
	lines = c.ok("SELECT INBOX (QRESYNC (" + validity + " " + modseq + " 2:9))")
	mustHave(t, lines, "* VANISHED (EARLIER) 2,5")
}

// An over-long line inside IDLE or an AUTHENTICATE exchange ends the
// session with BYE too.
func TestHugeLineInExchanges(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial()
	c.send("A1 AUTHENTICATE PLAIN\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("got %q", l)
	}
	hugeLine(t, e, c, "")

	c = e.login()
	c.ok("SELECT INBOX")
	c.send("I1 IDLE\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	hugeLine(t, e, c, "")
}

// UID FETCH ... (CHANGEDSINCE m VANISHED) reports expunged UIDs of the set
// as the client gave it, with a long set, and above the largest UID still
// present (RFC 7162 §3.2.6).
func TestFetchVanishedSet(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 5; i++ {
		e.deliver("", testMessage(i, "v"))
	}
	c := e.login()
	c.ok("ENABLE QRESYNC")
	c.ok("SELECT INBOX")
	c.ok(`STORE 2,5 +FLAGS (\Deleted)`)
	c.ok("EXPUNGE")
	lines := c.ok("UID FETCH " + oddSet(maxSeqRanges) + " FLAGS (CHANGEDSINCE 1 VANISHED)")
	mustHave(t, lines, "* VANISHED (EARLIER) 5")
	mustNotHave(t, lines, "EARLIER) 2")
	mustHave(t, c.ok("UID FETCH 5:9 FLAGS (CHANGEDSINCE 1 VANISHED)"), "* VANISHED (EARLIER) 5")
	mustHave(t, c.ok("UID FETCH 1:9 FLAGS (CHANGEDSINCE 1 VANISHED)"), "* VANISHED (EARLIER) 2,5")
	// "*" is the largest UID in use, 4 (RFC 9051 §9 seq-number).
	lines = c.ok("UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)")
	mustHave(t, lines, "* VANISHED (EARLIER) 2")
	mustNotHave(t, lines, "2,5")
}

// oddSet is the sequence set "1,3,5,..." of n ranges.
func oddSet(n int) string {
	odd := make([]string, n)
	for i := range odd {
		odd[i] = strconv.Itoa(2*i + 1)
	}
	return strings.Join(odd, ",")
}
