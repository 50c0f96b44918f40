package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestBlobForeignKeyIndexed: the lookup SQLite makes for the foreign key
// messages.blob_id when a blob row is deleted (the last copy of a message
// expunged) uses an index, not a scan of every message in the store.
func TestBlobForeignKeyIndexed(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	s.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, "pochta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("EXPLAIN QUERY PLAN SELECT 1 FROM messages WHERE blob_id = ?", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "USING COVERING INDEX messages_blob") && !strings.Contains(p, "USING INDEX messages_blob") {
		t.Fatalf("messages by blob_id: %s", p)
	}
}
