package imapserver

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Two sessions on one mailbox: changes made by one reach the other on
// NOOP as FETCH, EXPUNGE and EXISTS; no EXPUNGE is sent during FETCH,
// STORE or SEARCH (RFC 9051 §7.5.3).
func TestConcurrentSessions(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 3; i++ {
		e.deliver("", testMessage(i, "m"+strconv.Itoa(i)))
	}
	a, b := e.login(), e.login()
	a.ok("SELECT INBOX")
	b.ok("ENABLE CONDSTORE")
	b.ok("SELECT INBOX")

	a.ok(`STORE 1 +FLAGS (\Flagged)`)
	lines := b.ok("NOOP")
	mustHave(t, lines, `* 1 FETCH (UID 1 FLAGS (\Flagged) MODSEQ (`)

	a.ok(`STORE 2 +FLAGS (\Deleted)`)
	a.ok("EXPUNGE")
	// During FETCH the expunge must be withheld; sequence numbers stay.
	lines = b.ok("FETCH 3 (UID)")
	mustHave(t, lines, "* 3 FETCH (UID 3)")
	mustNotHave(t, lines, "EXPUNGE")
	lines = b.ok("SEARCH ALL")
	mustNotHave(t, lines, "EXPUNGE")
	mustHave(t, lines, "* SEARCH 1 2 3")
	lines = b.ok("NOOP")
	mustHave(t, lines, "* 2 EXPUNGE")
	lines = b.ok("FETCH 2 (UID)")
	mustHave(t, lines, "* 2 FETCH (UID 3)")

	e.deliver("", testMessage(4, "new"))
	lines = b.ok("UID FETCH 1:* (UID)")
	mustHave(t, lines, "* 3 EXISTS")
	lines = b.ok("FETCH 3 (UID)")
	mustHave(t, lines, "* 3 FETCH (UID 4)")
	// Own STORE is not echoed a second time on the next NOOP.
	b.ok(`STORE 3 +FLAGS (\Seen)`)
	lines = b.ok("NOOP")
	mustNotHave(t, lines, "FETCH")
	// A QRESYNC session hears VANISHED instead of EXPUNGE.
	c := e.login()
	c.ok("ENABLE QRESYNC")
	c.ok("SELECT INBOX")
	a.ok("NOOP")
	a.ok(`STORE 1 +FLAGS (\Deleted)`)
	a.ok("EXPUNGE")
	lines = c.ok("NOOP")
	mustHave(t, lines, "* VANISHED 1")
	mustNotHave(t, lines, "EXPUNGE")
}

// IDLE hears a delivery well within a second.
func TestIdleWakesOnDelivery(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	c.ok("SELECT INBOX")
	c.send("I1 IDLE\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE continuation: %q", l)
	}
	start := time.Now()
	e.deliver("", testMessage(1, "wake up"))
	if l := c.line(); l != "* 1 EXISTS" {
		t.Fatalf("got %q", l)
	}
	// The delivery is recent in this session, the first to learn of it
	// (RFC 3501 §2.3.2).
	if l := c.line(); l != "* 1 RECENT" {
		t.Fatalf("got %q", l)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("IDLE took %v", d)
	}
	// A flag change made elsewhere is pushed too.
	other := e.login()
	other.ok("SELECT INBOX")
	other.ok(`STORE 1 +FLAGS (\Answered)`)
	if l := c.line(); !strings.HasPrefix(l, `* 1 FETCH (UID 1 FLAGS (\Answered \Recent)`) {
		t.Fatalf("got %q", l)
	}
	c.send("DONE\r\n")
	if _, st := c.until("I1"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("IDLE end: %q", st)
	}
	c.ok("NOOP")
}

// IDLE times out with BYE after IMAPIdleTimeout.
func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, envOptions{idle: 300 * time.Millisecond})
	c := e.login()
	c.send("I1 IDLE\r\n")
	c.line()
	if l := c.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("got %q", l)
	}
}

// SELECT (QRESYNC ...) reports what changed since the client's modseq.
func TestQresyncSelect(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 5; i++ {
		e.deliver("", testMessage(i, "q"))
	}
	c := e.login()
	c.ok("ENABLE QRESYNC")
	lines := c.ok("SELECT INBOX")
	var validity, modseq string
	for _, l := range lines {
		if strings.HasPrefix(l, "* OK [UIDVALIDITY ") {
			validity = strings.Fields(l)[3]
			validity = strings.TrimSuffix(validity, "]")
		}
		if strings.HasPrefix(l, "* OK [HIGHESTMODSEQ ") {
			modseq = strings.TrimSuffix(strings.Fields(l)[3], "]")
		}
	}
	c.ok(`STORE 2 +FLAGS (\Deleted)`)
	c.ok(`STORE 4 +FLAGS (\Flagged)`)
	c.ok("EXPUNGE")
	lines = c.ok("SELECT INBOX (QRESYNC (" + validity + " " + modseq + " 1:5))")
	mustHave(t, lines, "* OK [CLOSED]", "* VANISHED (EARLIER) 2", `FETCH (UID 4 FLAGS (\Flagged) MODSEQ (`)
	mustNotHave(t, lines, "UID 1 FLAGS", "UID 3 FLAGS")
	lines = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + modseq + " VANISHED)")
	mustHave(t, lines, "* VANISHED (EARLIER) 2", "UID 4 FLAGS")
	mustNotHave(t, lines, "UID 1 FLAGS")
	// Wrong UIDVALIDITY: plain select, no resync data.
	lines = c.ok("SELECT INBOX (QRESYNC (1 " + modseq + "))")
	mustNotHave(t, lines, "VANISHED")
	c.expect("SELECT INBOX (FROB)", "BAD")
}

// The shared UID-list cache stays exact across expunges, moves and
// deliveries made between SELECTs.
func TestUIDCacheAcrossSelects(t *testing.T) {
	e := newCachedEnv(t, 6)
	a, b := e.login(), e.login()
	mustHave(t, a.ok("SELECT INBOX"), "* 6 EXISTS")
	b.ok("SELECT INBOX")
	b.ok(`STORE 2,4 +FLAGS (\Deleted)`)
	b.ok("EXPUNGE")
	b.ok("MOVE 1 Trash")
	e.deliver("", testMessage(7, "c"))
	b.ok(`STORE 1 +FLAGS (\Seen)`)
	lines := a.ok("SELECT INBOX")
	mustHave(t, lines, "* 4 EXISTS")
	lines = a.ok("FETCH 1:* (UID)")
	for i, u := range []string{"3", "5", "6", "7"} {
		mustHave(t, lines, "* "+itoa(i+1)+" FETCH (UID "+u+")")
	}
}
