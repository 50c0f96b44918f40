package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pochta/internal/store"
)

// testDateIndex: UIDsByDate orders by internal date (not UID), then UID,
// leaves out \Deleted messages, and pages with offset and limit.
func testDateIndex(t *testing.T, e *env) {
	di, ok := e.s.(store.DateIndex)
	if !ok {
		t.Fatal("the backend does not implement store.DateIndex (JMAP Email/query)")
	}
	a := e.account("dora@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// UIDs 1..5 with dates out of UID order; 4 and 5 share a date.
	for _, day := range []int{3, 1, 2, 5, 5} {
		_, err := e.s.Append(e.ctx, inbox.ID, nil, base.AddDate(0, 0, day), strings.NewReader(msg("d", "x")))
		e.must(err)
	}
	list := func(asc bool, off, lim int) string {
		t.Helper()
		u, err := di.UIDsByDate(e.ctx, inbox.ID, asc, off, lim)
		e.must(err)
		return fmt.Sprint(u)
	}
	if got := list(false, 0, -1); got != "[5 4 1 3 2]" {
		t.Fatalf("newest first: %s", got)
	}
	if got := list(true, 0, 10); got != "[2 3 1 4 5]" {
		t.Fatalf("oldest first: %s", got)
	}
	if got := list(false, 1, 2); got != "[4 1]" {
		t.Fatalf("page: %s", got)
	}
	_, _, err := e.s.SetFlags(e.ctx, inbox.ID, store.UIDSet{{Start: 4, Stop: 4}}, store.FlagsAdd, []string{`\Deleted`}, 0)
	e.must(err)
	if got := list(false, 0, -1); got != "[5 1 3 2]" {
		t.Fatalf("without \\Deleted: %s", got)
	}
	if n, err := di.DateCount(e.ctx, inbox.ID); err != nil || n != 4 {
		t.Fatalf("DateCount = %d, %v; want 4", n, err)
	}
	_, err = di.UIDsByDate(e.ctx, 999999, false, 0, 10)
	e.wantErr(err, store.ErrNotFound)
	_, err = di.DateCount(e.ctx, 999999)
	e.wantErr(err, store.ErrNotFound)
}
