package sqlite

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOddPaths opens stores in directories whose names need escaping in a
// SQLite URI.
func TestOddPaths(t *testing.T) {
	for _, n := range []string{"with space", "hash#x", "q?x=1", "pct%20"} {
		dir := filepath.Join(t.TempDir(), n)
		s := openTest(t, dir)
		setupAccount(t, s)
		s.Close()
		if _, err := os.Stat(filepath.Join(dir, "pochta.db")); err != nil {
			t.Fatalf("%q: %v", n, err)
		}
	}
}
