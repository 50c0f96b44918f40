package sqlite

import (
	"context"
	"testing"

	"pochta/internal/store"
)

// downgradeTo4 undoes migration 5: app passwords and the account flag.
var downgradeTo4 = []string{
	"DROP TABLE app_passwords",
	"ALTER TABLE accounts DROP COLUMN main_password_refused",
	"PRAGMA user_version = 4",
}

// TestMigrateAppPasswords upgrades a version-4 database: its accounts take
// their main password and have no app passwords, and can get some.
func TestMigrateAppPasswords(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	s.Close()
	downgrade(t, dir, append(append(append(downgradeSieve[:2:2], downgradeTo6[:1]...), downgradeTo5[:1]...), downgradeTo4...))
	s = openTest(t, dir)
	defer s.Close()
	if refused, err := s.MainPasswordRefused(ctx, a.ID); err != nil || refused {
		t.Fatalf("after migration: refused=%v %v", refused, err)
	}
	if ps, err := s.AppPasswords(ctx, a.ID); err != nil || len(ps) != 0 {
		t.Fatalf("after migration: %+v %v", ps, err)
	}
	if _, err := s.AddAppPassword(ctx, store.AppPassword{AccountID: a.ID, Name: "phone", Hash: "h"}); err != nil {
		t.Fatal(err)
	}
	checkConsistency(t, s)
}
