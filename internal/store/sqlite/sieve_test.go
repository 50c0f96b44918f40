package sqlite

import (
	"context"
	"testing"
)

// downgradeSieve undoes migration 8 (scripts and vacation records).
var downgradeSieve = []string{"DROP TABLE sieve_scripts", "DROP TABLE sieve_vacation", "PRAGMA user_version = 7"}

// TestMigrateSieve upgrades a database from before the sieve migration:
// the tables appear empty and work.
func TestMigrateSieve(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	s.Close()
	downgrade(t, dir, downgradeSieve)
	s = openTest(t, dir)
	defer s.Close()
	if list, err := s.SieveScripts(ctx, a.ID); err != nil || len(list) != 0 {
		t.Fatalf("after migration: %v %v", list, err)
	}
	if err := s.PutSieveScript(ctx, a.ID, "main", "keep;"); err != nil {
		t.Fatal(err)
	}
}
