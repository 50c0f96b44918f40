package pop3server

import (
	"context"
	"testing"
	"time"

	"pochta/internal/revocation"
)

// TestRevokedSessionEnds: when the account's access is revoked (an event
// in the store's log, as `pochta user disable` writes), its session gets
// -ERR [AUTH] and is closed, without the UPDATE state: what it marked
// with DELE stays.
func TestRevokedSessionEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var w *revocation.Watcher
	e := newEnv(t, envOptions{plaintextOnLoopback: true, mutate: func(o *Options) {
		w = revocation.New(o.Store.(revocation.Log), 10*time.Millisecond, nil)
		o.Revoker = w
	}})
	if err := w.Skip(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	e.add(msg1)
	c := e.login()
	c.cmd("DELE 1", "+OK")
	if err := e.st.AddAccountEvent(ctx, e.acct.ID); err != nil {
		t.Fatal(err)
	}
	c.expect("-ERR [AUTH] Access revoked") // within line's 10 s deadline
	c.closed()
	if n := len(e.messages()); n != 1 {
		t.Fatalf("a revoked session deleted messages: %d left", n)
	}
}
