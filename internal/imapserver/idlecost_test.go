package imapserver

import (
	"bufio"
	"compress/flate"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"pochta/internal/store"
)

// A session in IDLE is one goroutine: no reader, timer or watch goroutine
// beside it (what made 10,000 idle connections cost 266 MB).
func TestIdleOneGoroutinePerSession(t *testing.T) {
	e := newEnv(t, envOptions{})
	warm := e.login()
	warm.ok("SELECT INBOX")
	const n = 20
	base := runtime.NumGoroutine()
	clients := make([]*rawClient, n)
	for i := range clients {
		c := e.login()
		c.ok("SELECT INBOX")
		c.idle()
		clients[i] = c
	}
	// Goroutines that ran a command may take a moment to be gone after
	// their reply was sent: wait for the count to settle, at most 10 s.
	var got int
	for deadline := time.Now().Add(10 * time.Second); ; {
		got = runtime.NumGoroutine() - base
		if got <= n+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got > n+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d sessions in IDLE added %d goroutines, want at most %d\n%s", n, got, n+2, buf[:runtime.Stack(buf, true)])
	}
	// And every one of them still hears a delivery and ends with DONE.
	e.deliver("", testMessage(1, "to all"))
	for i, c := range clients {
		if l := c.line(); l != "* 1 EXISTS" {
			t.Fatalf("session %d: %q", i, l)
		}
		c.done()
	}
}

// IDLE is woken by changes to the selected mailbox only: a delivery to
// another mailbox sends nothing, and the next line is the INBOX's EXISTS.
func TestIdleIgnoresOtherMailboxes(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	c.ok("CREATE Other")
	c.ok("SELECT INBOX")
	c.idle()
	e.deliver("Other", testMessage(1, "elsewhere"))
	e.deliver("", testMessage(2, "here"))
	if l := c.line(); l != "* 1 EXISTS" {
		t.Fatalf("got %q", l)
	}
	c.done()
}

// A change made between two commands is reported at the next one, also
// when more mailboxes than the session remembers changed meanwhile.
func TestChangesBetweenCommands(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	c.ok("SELECT INBOX")
	for i := 0; i < maxChanged+4; i++ {
		c.ok(fmt.Sprintf("CREATE Box%d", i))
	}
	e.deliver("", testMessage(1, "first"))
	for i := 0; i < maxChanged+4; i++ {
		e.deliver(fmt.Sprintf("Box%d", i), testMessage(i, "other"))
	}
	lines := c.ok("NOOP")
	mustHave(t, lines, "* 1 EXISTS")
	lines = c.ok("NOOP")
	mustNotHave(t, lines, "EXISTS")
}

// storeChanged remembers at most maxChanged mailboxes, then any; reading
// forgets them.
func TestTakeChanged(t *testing.T) {
	s := &session{}
	s.storeChanged(store.Change{MailboxID: 7})
	s.storeChanged(store.Change{MailboxID: 7})
	if len(s.changed) != 1 {
		t.Fatalf("changed %v, want one entry", s.changed)
	}
	if s.takeChanged(8) {
		t.Fatal("mailbox 8 reported changed")
	}
	if s.takeChanged(7) {
		t.Fatal("change still reported after it was taken")
	}
	for i := int64(1); i <= maxChanged+1; i++ {
		s.storeChanged(store.Change{MailboxID: i})
	}
	if !s.changedAll || !s.takeChanged(1000) {
		t.Fatal("past maxChanged, not every mailbox counts as changed")
	}
	if s.takeChanged(1) {
		t.Fatal("changes still reported after they were taken")
	}
}

// With COMPRESS=DEFLATE, IDLE still hears deliveries and flag changes
// (woken through its channel, not a read deadline) and ends with DONE.
func TestIdleCompressed(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	c.ok("COMPRESS DEFLATE")
	fw, _ := flate.NewWriter(c.c, 5)
	c.r = bufio.NewReader(flate.NewReader(c.c))
	c.c = &flateConn{Conn: c.c, w: fw}
	c.ok("SELECT INBOX")
	c.idle()
	e.deliver("", testMessage(1, "squeezed"))
	if l := c.line(); l != "* 1 EXISTS" {
		t.Fatalf("got %q", l)
	}
	c.done()
	c.ok("NOOP")
}

// idle starts IDLE (tag I) and reads its continuation.
func (rc *rawClient) idle() {
	rc.t.Helper()
	rc.send("I IDLE\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "+ ") {
		rc.t.Fatalf("IDLE continuation: %q", l)
	}
}

// done ends IDLE and expects its OK.
func (rc *rawClient) done() {
	rc.t.Helper()
	rc.send("DONE\r\n")
	if _, st := rc.until("I"); !strings.HasPrefix(st, "OK") {
		rc.t.Fatalf("IDLE end: %q", st)
	}
}
