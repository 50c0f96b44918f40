package revocation

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"pochta/internal/store/sqlite"
)

// TestWatcher, over a real store: an event written after the Watcher
// started ends every session of that account, once, and no other's; an
// event older than the Watcher, or of a session that was cancelled, ends
// nothing.
func TestWatcher(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	kate, err := st.AddAccount(ctx, "kate@example.org", "$argon2id$x")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.AddAccount(ctx, "bob@example.org", "$argon2id$x")
	if err != nil {
		t.Fatal(err)
	}
	// Before the Watcher: old news, for sessions that no longer exist.
	if err := st.AddAccountEvent(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	w := New(st, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ended := make(chan string, 10)
	w.Watch(kate.ID, func() { ended <- "kate 1" })
	w.Watch(kate.ID, func() { ended <- "kate 2" })
	w.Watch(bob.ID, func() { ended <- "bob" })
	stop := w.Watch(kate.ID, func() { ended <- "kate cancelled" })
	stop()
	if err := w.Skip(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()

	if err := st.AddAccountEvent(ctx, kate.ID); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case s := <-ended:
			got[s] = true
		case <-deadline:
			t.Fatalf("sessions ended within 10 s: %v", got)
		}
	}
	if !got["kate 1"] || !got["kate 2"] {
		t.Fatalf("ended %v, want kate's two sessions", got)
	}
	// A marker: bob's event now ends bob's session, and nothing else
	// arrives before it (kate's sessions were unregistered when ended).
	if err := st.AddAccountEvent(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-ended:
		if s != "bob" {
			t.Fatalf("ended %q, want bob", s)
		}
	case <-deadline:
		t.Fatal("bob's session was not ended within 10 s")
	}
	cancel()
	<-done
}
