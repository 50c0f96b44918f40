package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestStart: a server starts, a non-superuser database owner can connect,
// create tables and the pg_trgm extension, and is not a superuser.
func TestStart(t *testing.T) {
	s := Start(t)
	url := s.NewDatabase(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var super bool
	if err := c.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
		t.Fatal(err)
	}
	if super {
		t.Fatal("the database owner is a superuser")
	}
	for _, q := range []string{"CREATE EXTENSION IF NOT EXISTS pg_trgm", "CREATE TABLE t (x text)", "INSERT INTO t VALUES ('hello')"} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v\n%s", q, err, s.Log())
		}
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM t WHERE x LIKE '%ell%'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
}
