package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pochta/internal/store"
)

// TestMigrateUploads upgrades a database from before the uploads
// migration; uploads can then be kept, and survive the store's restart
// with their content; RemoveExpiredUploads removes the file with the row.
func TestMigrateUploads(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	s.Close()
	downgrade(t, dir, []string{"DROP TABLE uploads", fmt.Sprintf("PRAGMA user_version = %d", migrationIndex(t, "CREATE TABLE IF NOT EXISTS uploads"))})
	s = openTest(t, dir)
	lim := store.UploadLimits{MaxSize: 100, MaxHeld: 1000, TTL: time.Hour}
	up, _, err := s.PutUpload(ctx, a.ID, "text/plain", strings.NewReader("kept"), lim)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, dir)
	defer s.Close()
	got, data, err := s.GetUpload(ctx, a.ID, up.ID)
	if err != nil || string(data) != "kept" || got.Type != "text/plain" {
		t.Fatalf("after restart: %+v %q %v", got, data, err)
	}
	if n, err := s.RemoveExpiredUploads(ctx, time.Now().Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("RemoveExpiredUploads = %d, %v", n, err)
	}
	if _, err := os.Stat(s.uploadPath(up.ID)); !os.IsNotExist(err) {
		t.Fatalf("expired upload's file still there: %v", err)
	}
}

// TestUploadFiles: a refused upload (too large, over the cap) leaves no
// file; a file no row names (a crash before the commit) is removed by the
// cleanup once a day old, not before.
func TestUploadFiles(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	defer s.Close()
	a := setupAccount(t, s)
	lim := store.UploadLimits{MaxSize: 10, MaxHeld: 15, TTL: time.Hour}
	if _, _, err := s.PutUpload(ctx, a.ID, "x/y", strings.NewReader("0123456789"), lim); err != nil {
		t.Fatal(err)
	}
	if _, tooLarge, _ := s.PutUpload(ctx, a.ID, "x/y", strings.NewReader("0123456789a"), lim); !tooLarge {
		t.Fatal("11 bytes not too large")
	}
	if _, _, err := s.PutUpload(ctx, a.ID, "x/y", strings.NewReader("0123456789"), lim); err == nil {
		t.Fatal("over the cap accepted")
	}
	files := func() int {
		ents, err := os.ReadDir(filepath.Join(s.dir, "uploads"))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	if n := files(); n != 1 {
		t.Fatalf("%d upload files, want 1", n)
	}
	orphan := s.uploadPath("u0123456789abcdef0123456789abcdef")
	if err := os.WriteFile(orphan, []byte("lost"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveExpiredUploads(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := files(); n != 2 {
		t.Fatalf("%d upload files after an early cleanup, want 2", n)
	}
	day := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(orphan, day, day); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveExpiredUploads(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := files(); n != 1 {
		t.Fatalf("%d upload files after the cleanup, want 1 (orphan removed)", n)
	}
}
