package sqlite

import (
	"context"
	"fmt"
	"testing"

	"pochta/internal/store"
)

// downgradeFlags undoes the account flags migration (the last one).
func downgradeFlags() []string {
	return []string{"DROP TABLE account_flags", fmt.Sprintf("PRAGMA user_version = %d", len(migrations)-1)}
}

// TestMigrateAccountFlags upgrades a database from before the account
// flags: existing accounts are neither admins nor disabled, and flags
// can be set.
func TestMigrateAccountFlags(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	s.Close()
	downgrade(t, dir, downgradeFlags())
	s = openTest(t, dir)
	defer s.Close()
	if f, err := s.AccountFlags(ctx, a.ID); err != nil || f != (store.AccountFlags{}) {
		t.Fatalf("flags after migration = %+v, %v", f, err)
	}
	if err := s.SetAccountFlags(ctx, a.ID, store.AccountFlags{Admin: true}); err != nil {
		t.Fatal(err)
	}
	if f, err := s.AccountFlags(ctx, a.ID); err != nil || !f.Admin {
		t.Fatalf("flags = %+v, %v", f, err)
	}
	checkConsistency(t, s)
}
