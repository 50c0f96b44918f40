package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"pochta/internal/store"
)

// downgradeWeb undoes the webmail migration (the ones after it are safe to run again).
func downgradeWeb(t *testing.T) []string {
	return []string{"DROP TABLE web_sessions", "DROP TABLE web_settings", fmt.Sprintf("PRAGMA user_version = %d", migrationIndex(t, "CREATE TABLE IF NOT EXISTS web_sessions"))}
}

// TestMigrateWebSessions upgrades a database from before the webmail
// migration: existing accounts have no sessions and empty settings, and
// both can be written.
func TestMigrateWebSessions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	s.Close()
	downgrade(t, dir, downgradeWeb(t))
	s = openTest(t, dir)
	defer s.Close()
	if set, err := s.WebSettings(ctx, a.ID); err != nil || set != (store.WebSettings{}) {
		t.Fatalf("after migration: %+v %v", set, err)
	}
	if err := s.AddWebSession(ctx, store.WebSession{ID: "x", AccountID: a.ID, CSRF: "c", Created: time.Now(), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WebSession(ctx, "x"); err != nil {
		t.Fatal(err)
	}
}
