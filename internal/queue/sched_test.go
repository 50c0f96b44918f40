package queue

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pochta/internal/envelope"
	"pochta/internal/reply"
)

// countingSpool is the real spool, counting the state writes.
type countingSpool struct {
	spool
	mu    sync.Mutex
	saves map[string]int
}

func (c *countingSpool) save(ctx context.Context, rec *record, due time.Time) error {
	c.mu.Lock()
	c.saves[rec.ID]++
	c.mu.Unlock()
	return c.spool.save(ctx, rec, due)
}

func (c *countingSpool) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saves[id]
}

// openCounting opens (not starts) a queue whose spool counts state writes.
func (e *env) openCounting(opts Options) (*Queue, *countingSpool) {
	e.t.Helper()
	q, err := Open(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	cs := &countingSpool{spool: q.sp, saves: map[string]int{}}
	q.sp = cs
	e.t.Cleanup(func() { q.Shutdown(context.Background()) })
	e.last = q
	return q, cs
}

// TestNoRewriteBeforeRemoval: an entry delivered at the first attempt is
// removed without its state being written first; one deferred once is
// written once (the deferral), not again before it goes.
func TestNoRewriteBeforeRemoval(t *testing.T) {
	e := newEnv(t)
	e.remote.script = func(_ int, _ string, rcpts []envelope.Recipient) []error {
		if rcpts[0].Address == "later@remote.test" && e.remote.callCount() <= 2 {
			return all(rcpts, reply.New(451, "4.7.1", "Greylisted"))
		}
		return nil
	}
	q, cs := e.openCounting(e.options())
	q.Start()
	now, err := q.Enqueue(context.Background(), envFrom("alice@local.test", "now@remote.test"), testMsg("now"))
	if err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	later, err := q.Enqueue(context.Background(), envFrom("alice@local.test", "later@remote.test"), testMsg("later"))
	if err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	if n := cs.count(now); n != 0 {
		t.Errorf("delivered entry written %d times before removal, want 0", n)
	}
	if n := cs.count(later); n != 1 {
		t.Errorf("entry deferred once written %d times, want 1", n)
	}
	if n := e.remote.callCount(); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
}

// TestFlushSavedAtShutdown: a flush moves retry times in memory only
// (no write per entry); Shutdown writes them, so the next Open has them.
func TestFlushSavedAtShutdown(t *testing.T) {
	e, opts := newDeferringEnv(t)
	q := e.open(opts)
	id, err := q.Enqueue(context.Background(), envFrom("alice@local.test", "x@remote.test"), testMsg("flush"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first attempt saved", func() bool {
		it, _, err := Show(e.dir, id)
		return err == nil && it.Recipients[0].Attempts == 1
	})
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A queue that is open but not started applies a flush request.
	q2, cs := e.openCounting(opts)
	if err := os.WriteFile(filepath.Join(e.dir, ctlDir, flushRequest), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	q2.applyRequests()
	if n := cs.count(id); n != 0 {
		t.Fatalf("flush wrote the entry %d times, want 0", n)
	}
	if it, _, err := Show(e.dir, id); err != nil || !it.NextAttempt.After(time.Now().Add(30*time.Minute)) {
		t.Fatalf("before shutdown: next attempt %v (%v), want still in about an hour", it.NextAttempt, err)
	}
	if err := q2.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	it, _, err := Show(e.dir, id)
	if err != nil {
		t.Fatal(err)
	}
	if it.NextAttempt.After(time.Now()) || cs.count(id) != 1 {
		t.Fatalf("flushed retry time not saved at shutdown: next attempt %v, %d writes", it.NextAttempt, cs.count(id))
	}
}

// TestDrainManyOneDomain drains many entries to one domain under a
// per-domain limit: every one delivered once, the limit kept, through the
// scheduler's heap and parking.
func TestDrainManyOneDomain(t *testing.T) {
	e := newEnv(t)
	opts := e.options()
	opts.Workers, opts.PerDomain = 5, 2
	q := e.open(opts)
	const n = 200
	for i := range n {
		if _, err := q.Enqueue(context.Background(), envFrom("alice@local.test", fmt.Sprintf("u%d@a.test", i), fmt.Sprintf("u%d@b.test", i)), testMsg("d")); err != nil {
			t.Fatal(err)
		}
	}
	e.waitEmpty()
	r := e.remote
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, c := range r.calls {
		for _, a := range c.Rcpts {
			if seen[a] {
				t.Fatalf("%s delivered twice", a)
			}
			seen[a] = true
		}
	}
	if len(seen) != 2*n {
		t.Fatalf("%d recipients delivered, want %d", len(seen), 2*n)
	}
	if r.maxTotal > 5 || r.maxDomain["a.test"] > 2 || r.maxDomain["b.test"] > 2 {
		t.Fatalf("limits exceeded: total %d, per domain %v", r.maxTotal, r.maxDomain)
	}
}

// newDeferringEnv is a test world whose remote defers every recipient
// (451), with options retrying after an hour.
func newDeferringEnv(t *testing.T) (*env, Options) {
	e := newEnv(t)
	e.remote.script = func(_ int, _ string, rcpts []envelope.Recipient) []error {
		return all(rcpts, reply.New(451, "4.3.0", "Try later"))
	}
	opts := e.options()
	opts.FirstRetry, opts.MaxRetry = time.Hour, time.Hour
	return e, opts
}
