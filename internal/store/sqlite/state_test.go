package sqlite

import (
	"context"
	"errors"
	"testing"

	"pochta/internal/store"
)

// downgradeState undoes migration 11: the server_state table.
var downgradeState = []string{"DROP TABLE server_state", "PRAGMA user_version = 10"}

// TestMigrateServerState upgrades a database from before migration 11:
// the mail is still there and the state table appears empty and works.
func TestMigrateServerState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	s.Close()
	downgrade(t, dir, downgradeState)
	s = openTest(t, dir)
	defer s.Close()
	if _, err := s.GetAccount(ctx, a.Address); err != nil {
		t.Fatalf("account lost in migration: %v", err)
	}
	if _, err := s.GetState(ctx, "srs/secret"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetState after migration: %v, want ErrNotFound", err)
	}
	if err := s.AddState(ctx, "srs/secret", []byte("x")); err != nil {
		t.Fatal(err)
	}
}
