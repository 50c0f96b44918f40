package sqlite

import (
	"context"
	"testing"
)

// downgradeTo6 undoes migration 7: the accounts' source column.
var downgradeTo6 = []string{"ALTER TABLE accounts DROP COLUMN source", "PRAGMA user_version = 6"}

// TestMigrateSources upgrades a version-6 database: existing accounts are
// the store's own (source ""), and directory accounts can be added.
func TestMigrateSources(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	s.Close()
	downgrade(t, dir, append(downgradeSieve[:2:2], downgradeTo6...))
	s = openTest(t, dir)
	defer s.Close()
	if src, err := s.AccountSource(ctx, a.Address); err != nil || src != "" {
		t.Fatalf("AccountSource after migration = %q, %v; want the store's own", src, err)
	}
	d, err := s.AddSourcedAccount(ctx, "dir@example.org", "ldap")
	if err != nil {
		t.Fatal(err)
	}
	if src, err := s.AccountSource(ctx, d.Address); err != nil || src != "ldap" {
		t.Fatalf("AccountSource(%s) = %q, %v", d.Address, src, err)
	}
	checkConsistency(t, s)
}
