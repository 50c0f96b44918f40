package revocation

import (
	"context"
	"testing"
	"time"

	"pochta/internal/pgtest"
	"pochta/internal/store/postgres"
)

// TestAcrossNodes: two nodes on one PostgreSQL database; an account
// disabled through one (its event written there) ends the session open
// on the other.
func TestAcrossNodes(t *testing.T) {
	srv := pgtest.Start(t)
	defer srv.Stop()
	url := srv.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	one, two := open(), open()
	if err := one.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	kate, err := one.AddAccount(ctx, "kate@example.org", "$argon2id$x")
	if err != nil {
		t.Fatal(err)
	}
	w := New(two, 10*time.Millisecond, nil)
	ended := make(chan struct{})
	w.Watch(kate.ID, func() { close(ended) })
	if err := w.Skip(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := one.AddAccountEvent(ctx, kate.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the other node's session was not ended within 10 s")
	}
}
