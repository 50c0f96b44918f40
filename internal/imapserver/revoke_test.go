package imapserver

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"pochta/internal/revocation"
	"pochta/internal/store/sqlite"
)

// startRevocations runs a revocation.Watcher over st until the test ends.
func startRevocations(t testing.TB, st *sqlite.Store) *revocation.Watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := revocation.New(st, 10*time.Millisecond, testLogger(t))
	if err := w.Skip(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// TestRevokedSessionsEnd: when the account's access is revoked (an event
// in the store's log, as `pochta user disable` writes), its sessions —
// one waiting for a command, one in IDLE — get BYE and are closed
// (RFC 9051 §7.1.5); another account's session goes on.
func TestRevokedSessionsEnd(t *testing.T) {
	e := newEnv(t, envOptions{revoker: true})
	waiting := e.login()
	idling := e.login()
	idling.ok("SELECT INBOX")
	idling.send("i1 IDLE\r\n")
	if l := idling.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	bob := e.dial()
	bob.ok("LOGIN bob@example.org \"" + testPassword + "\"")

	if err := e.st.AddAccountEvent(context.Background(), e.acct.ID); err != nil {
		t.Fatal(err)
	}
	for name, rc := range map[string]*rawClient{"waiting": waiting, "idling": idling} {
		if l := rc.line(); l != "* "+byeRevoked { // within line's 10 s deadline
			t.Fatalf("%s session: %q, want the BYE", name, l)
		}
		rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if b, err := rc.r.ReadByte(); err != io.EOF {
			t.Fatalf("%s session not closed after BYE: %q %v", name, b, err)
		}
		rc.c.Close() // the server lingers until the client closes
	}
	bob.ok("NOOP")
}

// TestRevokedNextCommand: once the end function has returned, the next
// command is not run, whatever the session was doing: its answer is the
// BYE and the connection closes.
func TestRevokedNextCommand(t *testing.T) {
	e := newEnv(t, envOptions{revoker: true})
	rc := e.login()
	rc.ok("NOOP") // the session is logged in and waiting again
	if n := e.revocations.End(e.acct.ID); n != 1 {
		t.Fatalf("End ended %d sessions, want 1", n)
	}
	rc.send("a1 SELECT INBOX\r\n")
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	all, err := io.ReadAll(rc.r)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(all); got != "* "+byeRevoked+"\r\n" {
		t.Fatalf("after revocation: %q, want only the BYE", got)
	}
}
