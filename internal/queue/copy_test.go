package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyFiles: Copy moves every entry of a file spool into another
// (ids, envelopes with REQUIRETLS, recipient states, contents), the copy is
// delivered from there, and a target that holds entries is refused. The
// PostgreSQL direction is covered by cmd/pochta's TestStoreMigrate.
func TestCopyFiles(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	q, err := Open(e.options())
	if err != nil {
		t.Fatal(err)
	}
	env := envFrom("alice@local.test", "bob@remote.test", "carl@remote.test")
	env.RequireTLS = true
	for _, s := range []string{"one", "two"} {
		if _, err := q.Enqueue(ctx, env, testMsg(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Shutdown(ctx); err != nil { // never started
		t.Fatal(err)
	}
	before, err := List(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "queue")
	if n, err := Copy(ctx, Spool{Dir: e.dir}, Spool{Dir: to}); err != nil || n != 2 {
		t.Fatalf("Copy = %d, %v; want 2", n, err)
	}
	after, err := List(to)
	if err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("copied queue %v %v\nwant %v", after, err, before)
	}
	if _, err := Copy(ctx, Spool{Dir: e.dir}, Spool{Dir: to}); err == nil || !strings.Contains(err.Error(), "holds 2 messages") {
		t.Fatalf("Copy into a non-empty queue: %v", err)
	}
	e.dir = to
	e.open(e.options())
	e.waitEmpty()
	calls := e.remote.snapshot()
	if len(calls) != 2 || !calls[0].RequireTLS || len(calls[0].Rcpts) != 2 {
		t.Fatalf("deliveries from the copy: %+v", calls)
	}
}
