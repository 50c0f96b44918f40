package storetest

import (
	"errors"
	"testing"

	"pochta/internal/store"
)

// testSpamTokens: SpamStore counts trained messages per account and per
// token, undo never goes below zero, and accounts do not see each other's
// counts.
func testSpamTokens(t *testing.T, e *env) {
	ss, ok := e.s.(store.SpamStore)
	if !ok {
		t.Fatalf("%T does not implement store.SpamStore", e.s)
	}
	a := e.account("bob@example.org")
	b := e.account("eve@example.org")
	e.must(ss.TrainSpam(e.ctx, a.ID, []string{"viagra", "cheap"}, true, false))
	e.must(ss.TrainSpam(e.ctx, a.ID, []string{"viagra", "offer"}, true, false))
	e.must(ss.TrainSpam(e.ctx, a.ID, []string{"lunch", "cheap"}, false, false))
	totals, counts, err := ss.SpamTokens(e.ctx, a.ID, []string{"viagra", "cheap", "lunch", "offer", "unknown"})
	e.must(err)
	if totals != (store.TokenCounts{Spam: 2, Ham: 1}) {
		t.Fatalf("totals = %+v, want 2 spam 1 ham", totals)
	}
	want := map[string]store.TokenCounts{"viagra": {Spam: 2}, "cheap": {Spam: 1, Ham: 1}, "lunch": {Ham: 1}, "offer": {Spam: 1}}
	if len(counts) != len(want) {
		t.Fatalf("counts = %v, want %v", counts, want)
	}
	for k, v := range want {
		if counts[k] != v {
			t.Fatalf("counts[%q] = %+v, want %+v", k, counts[k], v)
		}
	}
	// Undo: the message with "viagra","offer" was not spam after all.
	e.must(ss.TrainSpam(e.ctx, a.ID, []string{"viagra", "offer"}, true, true))
	e.must(ss.TrainSpam(e.ctx, a.ID, []string{"viagra", "offer"}, false, false))
	// Undo past zero stays at zero.
	e.must(ss.TrainSpam(e.ctx, a.ID, []string{"lunch"}, false, true))
	e.must(ss.TrainSpam(e.ctx, a.ID, []string{"lunch"}, false, true))
	totals, counts, err = ss.SpamTokens(e.ctx, a.ID, []string{"viagra", "offer", "lunch"})
	e.must(err)
	if totals != (store.TokenCounts{Spam: 1, Ham: 0}) {
		t.Fatalf("totals after undo = %+v, want 1 spam 0 ham", totals)
	}
	if counts["viagra"] != (store.TokenCounts{Spam: 1, Ham: 1}) || counts["offer"] != (store.TokenCounts{Ham: 1}) {
		t.Fatalf("counts after undo = %v", counts)
	}
	if _, ok := counts["lunch"]; ok {
		t.Fatalf("token with zero counts still listed: %v", counts)
	}
	// Other account: nothing.
	totals, counts, err = ss.SpamTokens(e.ctx, b.ID, []string{"viagra"})
	e.must(err)
	if totals != (store.TokenCounts{}) || len(counts) != 0 {
		t.Fatalf("other account sees %+v %v", totals, counts)
	}
	// Many tokens in one call (more than one SQL statement's worth).
	many := make([]string, 1200)
	for i := range many {
		many[i] = "t" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
	}
	e.must(ss.TrainSpam(e.ctx, b.ID, many, false, false))
	_, counts, err = ss.SpamTokens(e.ctx, b.ID, many)
	e.must(err)
	if len(counts) != len(many) {
		t.Fatalf("SpamTokens(%d tokens) found %d", len(many), len(counts))
	}
	if err := ss.TrainSpam(e.ctx, 999999, []string{"x"}, true, false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TrainSpam(unknown account) = %v, want ErrNotFound", err)
	}
	// Counts go with the account.
	e.must(e.s.RemoveAccount(e.ctx, "bob@example.org"))
	totals, counts, err = ss.SpamTokens(e.ctx, a.ID, []string{"viagra"})
	e.must(err)
	if totals != (store.TokenCounts{}) || len(counts) != 0 {
		t.Fatalf("removed account's counts remain: %+v %v", totals, counts)
	}
}
