package managesieve

import (
	"context"
	"io"
	"testing"
	"time"

	"pochta/internal/revocation"
	"pochta/internal/store/sqlite"
)

// TestRevokedSessionEnds: when the account's access is revoked (an event
// in the store's log, as `pochta user disable` writes), its session gets
// BYE and is closed; a session that said UNAUTHENTICATE before is not
// the account's any more and goes on.
func TestRevokedSessionEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	e := startWith(t, true, func(o *Options, st *sqlite.Store) {
		w := revocation.New(st, 10*time.Millisecond, nil)
		o.Revoker = w
		if err := w.Skip(ctx); err != nil {
			t.Fatal(err)
		}
		go func() { defer close(done); w.Run(ctx) }()
	})
	login := func() *client {
		c := dial(t, e.addr)
		c.response()
		expect(t, c.cmd(`AUTHENTICATE "PLAIN" "`+plain(testUser, testPass)+`"`), `OK "Logged in"`)
		return c
	}
	c, other := login(), login()
	expect(t, other.cmd(`UNAUTHENTICATE`), `OK`)
	if err := e.st.AddAccountEvent(ctx, e.acct.ID); err != nil {
		t.Fatal(err)
	}
	expect(t, c.response(), `BYE "Access revoked`) // within dial's deadline
	if b, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("session not closed after BYE: %q %v", b, err)
	}
	expect(t, other.cmd(`NOOP`), `OK`)
}
