package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"pochta/internal/store/sqlite"
)

var testIP = netip.MustParseAddr("192.0.2.9")

// cacheEnv is a real store with accounts kate and lena (password "pw")
// and an Authenticator over it with opts and a clock the test moves.
type cacheEnv struct {
	t   testing.TB
	st  *sqlite.Store
	a   *Authenticator
	now time.Time
}

func newCacheEnv(t testing.TB, opts Options) *cacheEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"kate@example.test", "lena@example.test"} {
		h, _ := Hash("pw")
		if _, err := st.AddAccount(ctx, u, h); err != nil {
			t.Fatal(err)
		}
	}
	if opts.FailureDelay == 0 {
		opts.FailureDelay = time.Millisecond
	}
	e := &cacheEnv{t: t, st: st, now: time.Unix(1_700_000_000, 0)}
	e.a = New(st, opts)
	e.a.now = func() time.Time { return e.now }
	return e
}

// login logs in and checks the outcome and the hashes computed so far.
func (e *cacheEnv) login(user, pass string, wantOK bool, wantHashes int64) {
	e.t.Helper()
	_, err := e.a.Login(context.Background(), user, pass, testIP)
	if wantOK && err != nil || !wantOK && !errors.Is(err, ErrInvalid) {
		e.t.Fatalf("login %s/%s: %v, want ok=%v", user, pass, err, wantOK)
	}
	if got := e.a.hashes(); got != wantHashes {
		e.t.Fatalf("after login %s/%s: %d hashes computed, want %d", user, pass, got, wantHashes)
	}
}

func TestCacheHitSkipsHash(t *testing.T) {
	e := newCacheEnv(t, Options{CacheTTL: 5 * time.Minute})
	e.login("kate@example.test", "pw", true, 1)
	e.login("KATE@example.test ", "pw", true, 1) // the same user, from the cache
	e.login("lena@example.test", "pw", true, 2)  // another user: its own entry
	e.login("kate@example.test", "pw", true, 2)
	e.now = e.now.Add(5*time.Minute - time.Second)
	e.login("kate@example.test", "pw", true, 2)
	e.now = e.now.Add(time.Second) // TTL over: verified again
	e.login("kate@example.test", "pw", true, 3)
	e.login("kate@example.test", "pw", true, 3)
}

func TestCacheDisabled(t *testing.T) {
	e := newCacheEnv(t, Options{})
	e.login("kate@example.test", "pw", true, 1)
	e.login("kate@example.test", "pw", true, 2)
}

func TestFailuresNotCached(t *testing.T) {
	e := newCacheEnv(t, Options{CacheTTL: 5 * time.Minute})
	e.login("kate@example.test", "wrong", false, 1)
	e.login("kate@example.test", "wrong", false, 2)
	e.login("nobody@example.test", "pw", false, 3) // unknown user: the dummy hash
	e.login("nobody@example.test", "pw", false, 4)
	// A cached success does not let a wrong password in.
	e.login("kate@example.test", "pw", true, 5)
	e.login("kate@example.test", "pW", false, 6)
	e.login("kate@example.test", "pw", true, 6)
}

func TestPasswordChangeInvalidatesCache(t *testing.T) {
	e := newCacheEnv(t, Options{CacheTTL: 5 * time.Minute})
	ctx := context.Background()
	e.login("kate@example.test", "pw", true, 1)
	h, _ := Hash("new-pw")
	if err := e.st.SetPasswordHash(ctx, "kate@example.test", h); err != nil {
		t.Fatal(err)
	}
	e.login("kate@example.test", "pw", false, 2) // the old password, at once
	e.login("kate@example.test", "new-pw", true, 3)
	e.login("kate@example.test", "new-pw", true, 3)
	// Set back to the same password: a new salt, so a new hash to verify.
	h, _ = Hash("pw")
	if err := e.st.SetPasswordHash(ctx, "kate@example.test", h); err != nil {
		t.Fatal(err)
	}
	e.login("kate@example.test", "new-pw", false, 4)
	e.login("kate@example.test", "pw", true, 5)
}

func TestRemovedAccountInvalidatesCache(t *testing.T) {
	e := newCacheEnv(t, Options{CacheTTL: 5 * time.Minute})
	e.login("lena@example.test", "pw", true, 1)
	if err := e.st.RemoveAccount(context.Background(), "lena@example.test"); err != nil {
		t.Fatal(err)
	}
	e.login("lena@example.test", "pw", false, 2)
}

func TestVerifyCacheBounded(t *testing.T) {
	c := newVerifyCache([]byte("k"), time.Minute, 2)
	now := time.Unix(0, 0)
	k1, k2, k3 := c.key("a", "p"), c.key("b", "p"), c.key("c", "p")
	if c.key("a", "p") != k1 || c.key("a", "q") == k1 || c.key("ap", "") == c.key("a", "p") {
		t.Fatal("keys")
	}
	if newVerifyCache([]byte("other"), time.Minute, 2).key("a", "p") == k1 {
		t.Fatal("key does not depend on the secret")
	}
	c.add(k1, "h1", now)
	c.add(k2, "h2", now)
	if !c.hit(k1, "h1", now) { // k1 is now the most recently used
		t.Fatal("k1 missing")
	}
	c.add(k3, "h3", now) // evicts k2
	if c.lru.Len() != 2 || len(c.byKey) != 2 {
		t.Fatalf("cache holds %d/%d entries, want 2", c.lru.Len(), len(c.byKey))
	}
	if c.hit(k2, "h2", now) || !c.hit(k1, "h1", now) || !c.hit(k3, "h3", now) {
		t.Fatal("wrong entry evicted")
	}
	if c.hit(k1, "other-hash", now) || c.hit(k1, "h1", now) {
		t.Fatal("entry for another stored hash not dropped")
	}
}

// TestHashConcurrencyBound: a storm of logins that all need a hash (all
// different: identical ones would share one) never computes more than
// MaxConcurrentHashes at once, and every one gets its answer.
func TestHashConcurrencyBound(t *testing.T) {
	e := newCacheEnv(t, Options{MaxConcurrentHashes: 2})
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := []string{"kate@example.test", "lena@example.test"}[i%2]
			pass := fmt.Sprintf("pw-%d", i/2)
			if i < 2 {
				pass = "pw"
			}
			_, err := e.a.Login(context.Background(), user, pass, testIP)
			if (i < 2) != (err == nil) {
				errs <- fmt.Errorf("login %d (%s): %v", i, pass, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := e.a.hashes(); got != n {
		t.Errorf("%d hashes, want %d (cache off)", got, n)
	}
	if p := e.a.gate.peak.Load(); p < 1 || p > 2 {
		t.Errorf("%d hashes computed at once, bound is 2", p)
	}
}

// TestIdenticalLoginsShareOneHash: concurrent logins with the same user
// and password on a cold cache compute one hash between them.
func TestIdenticalLoginsShareOneHash(t *testing.T) {
	e := newCacheEnv(t, Options{CacheTTL: time.Minute})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.a.Login(context.Background(), "kate@example.test", "pw", testIP); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := e.a.hashes(); got != 1 {
		t.Fatalf("%d hashes for 20 identical logins, want 1", got)
	}
}

// TestQueuedLoginGivesUp: a login waiting for a hash slot returns when
// its context ends, with that error (not ErrInvalid, not counted as a
// failure), and computes nothing.
func TestQueuedLoginGivesUp(t *testing.T) {
	e := newCacheEnv(t, Options{MaxConcurrentHashes: 1})
	e.a.gate.slots <- struct{}{} // the only slot is busy
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() {
		_, err := e.a.Login(ctx, "kate@example.test", "pw", testIP)
		done <- err
	}()
	go func() {
		_, err := e.a.Login(ctx, "nobody@example.test", "pw", testIP)
		done <- err
	}()
	cancel()
	for i := 0; i < 2; i++ {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("queued login: %v, want context.Canceled", err)
		}
	}
	<-e.a.gate.slots
	if e.a.hashes() != 0 {
		t.Fatalf("%d hashes computed", e.a.hashes())
	}
	e.a.mu.Lock()
	failures := len(e.a.failures)
	e.a.mu.Unlock()
	if failures != 0 {
		t.Fatal("a given-up login was counted as a failure")
	}
	e.login("kate@example.test", "pw", true, 1)
}
