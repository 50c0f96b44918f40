package storetest

import (
	"sync"
	"testing"

	"pochta/internal/store"
)

// testWatchFunc: WatchFunc calls its function for every commit touching
// the account — before the writer returns, as Watch's channel — never for
// another account, and never after cancel.
func testWatchFunc(t *testing.T, e *env) {
	wf, ok := e.s.(store.WatchFuncer)
	if !ok {
		t.Fatalf("%T does not implement store.WatchFuncer", e.s)
	}
	a := e.account("bob@example.org")
	b := e.account("carol@example.org")
	var mu sync.Mutex
	var gotA, gotB []store.Change
	cancel := wf.WatchFunc(a.ID, func(c store.Change) {
		mu.Lock()
		gotA = append(gotA, c)
		mu.Unlock()
	})
	cancelB := wf.WatchFunc(b.ID, func(c store.Change) {
		mu.Lock()
		gotB = append(gotB, c)
		mu.Unlock()
	})
	defer cancelB()
	d := e.deliver(a.ID, "", msg("w", "x"))
	_, _, err := e.s.SetFlags(e.ctx, d.MailboxID, nil, store.FlagsReplace, []string{`\Seen`}, 0)
	e.must(err)
	mu.Lock()
	if len(gotA) < 2 {
		t.Fatalf("after a delivery and a flag change: %d calls, want 2 or more", len(gotA))
	}
	for _, c := range gotA {
		if c.AccountID != a.ID || c.MailboxID != d.MailboxID {
			t.Fatalf("change %+v, want account %d mailbox %d", c, a.ID, d.MailboxID)
		}
	}
	if len(gotB) != 0 {
		t.Fatalf("other account notified: %+v", gotB)
	}
	n := len(gotA)
	mu.Unlock()
	cancel()
	cancel() // twice is harmless
	e.deliver(a.ID, "", msg("after", "x"))
	mu.Lock()
	defer mu.Unlock()
	if len(gotA) != n {
		t.Fatalf("called after cancel: %+v", gotA[n:])
	}
}
