package storetest

import (
	"slices"
	"testing"

	"pochta/internal/store"
)

// testAccountEvents: events come back in the order they were added, after
// the seq a reader has seen and never again; a reader starting at 0 sees
// them all; an event outlives its removed account; answers are bounded.
func testAccountEvents(t *testing.T, e *env) {
	ev, ok := e.s.(store.AccountEvents)
	if !ok {
		t.Fatalf("%T does not implement store.AccountEvents", e.s)
	}
	a := e.account("kate@example.org")
	b := e.account("bob@example.org")
	accts, last, err := ev.AccountEventsAfter(e.ctx, 0)
	e.must(err)
	if len(accts) != 0 || last != 0 {
		t.Fatalf("empty log: %v, %d", accts, last)
	}
	e.must(ev.AddAccountEvent(e.ctx, a.ID))
	e.must(ev.AddAccountEvent(e.ctx, b.ID))
	accts, first, err := ev.AccountEventsAfter(e.ctx, 0)
	e.must(err)
	if !slices.Equal(accts, []int64{a.ID, b.ID}) || first <= 0 {
		t.Fatalf("after two events: %v, %d", accts, first)
	}
	accts, again, err := ev.AccountEventsAfter(e.ctx, first)
	e.must(err)
	if len(accts) != 0 || again != first {
		t.Fatalf("nothing new: %v, %d (want %d)", accts, again, first)
	}
	e.must(e.s.RemoveAccount(e.ctx, "kate@example.org"))
	e.must(ev.AddAccountEvent(e.ctx, a.ID))
	accts, next, err := ev.AccountEventsAfter(e.ctx, first)
	e.must(err)
	if !slices.Equal(accts, []int64{a.ID}) || next <= first {
		t.Fatalf("event of a removed account: %v, %d after %d", accts, next, first)
	}
	// Concurrently, so that group commit makes this quick.
	errs := make(chan error, store.MaxAccountEvents)
	for i := 0; i < store.MaxAccountEvents; i++ {
		go func() { errs <- ev.AddAccountEvent(e.ctx, b.ID) }()
	}
	for i := 0; i < store.MaxAccountEvents; i++ {
		e.must(<-errs)
	}
	accts, bounded, err := ev.AccountEventsAfter(e.ctx, next)
	e.must(err)
	if len(accts) != store.MaxAccountEvents {
		t.Fatalf("%d events in one answer, want %d", len(accts), store.MaxAccountEvents)
	}
	if accts, _, err := ev.AccountEventsAfter(e.ctx, bounded); err != nil || len(accts) != 0 {
		t.Fatalf("after the bounded answer: %v %v", accts, err)
	}
}
