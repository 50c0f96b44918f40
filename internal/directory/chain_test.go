package directory

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"pochta/internal/store"
	"pochta/internal/store/sqlite"
)

// tableSource is an account source kept in a map, for the Chain's rules;
// the LDAP source against a real slapd is tested in directory/ldap and,
// through the whole server, in internal/app.
type tableSource struct {
	name string

	mu        sync.Mutex
	users     map[string]Entry  // by every address
	passwords map[string]string // by Entry.Address
	down      bool
	calls     int
}

func newTable(name string) *tableSource {
	return &tableSource{name: name, users: map[string]Entry{}, passwords: map[string]string{}}
}

func (s *tableSource) add(e Entry, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.Source = s.name
	for _, a := range e.Addresses {
		s.users[a] = e
	}
	s.passwords[e.Address] = password
}

func (s *tableSource) remove(addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range addrs {
		delete(s.users, a)
	}
}

func (s *tableSource) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *tableSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *tableSource) Name() string { return s.name }

func (s *tableSource) Lookup(ctx context.Context, addr string) (Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.down {
		return Entry{}, ErrUnavailable
	}
	e, ok := s.users[addr]
	if !ok {
		return Entry{}, ErrUnknown
	}
	return e, nil
}

func (s *tableSource) Authenticate(ctx context.Context, login, password string) (Entry, error) {
	e, err := s.Lookup(ctx, login)
	if err != nil {
		return e, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !e.Enabled || s.passwords[e.Address] != password {
		return Entry{}, ErrInvalid
	}
	return e, nil
}

type fixture struct {
	st    *sqlite.Store
	dir   *tableSource
	chain *Chain
	now   time.Time
}

// newFixture: a real store with the domain example.org and the internal
// account own@example.org; a directory source "ldap" with kate (two
// addresses, a quota) and bob (disabled); a chain over sources in the
// given order ("internal", "ldap") with a one-minute cache and a clock
// the test moves.
func newFixture(t *testing.T, order ...string) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddAccount(ctx, "own@example.org", "hash"); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, dir: newTable("ldap"), now: time.Unix(1_800_000_000, 0)}
	f.dir.add(Entry{Address: "kate@example.org", Addresses: []string{"kate@example.org", "k@example.org"}, Enabled: true, Quota: 1000}, "kate-pw")
	f.dir.add(Entry{Address: "bob@example.org", Addresses: []string{"bob@example.org"}}, "bob-pw")
	var sources []Source
	for _, name := range order {
		if name == Internal {
			sources = append(sources, InternalSource())
		} else {
			sources = append(sources, f.dir)
		}
	}
	f.chain = New(st, sources, Options{CacheTTL: time.Minute, StaleFor: time.Hour})
	f.chain.now = func() time.Time { return f.now }
	return f
}

func TestChainOrderAndProvisioning(t *testing.T) {
	f := newFixture(t, "internal", "ldap")
	ctx := context.Background()
	own, err := f.chain.Account(ctx, "OWN@example.org")
	if err != nil || own.Address != "own@example.org" {
		t.Fatalf("internal account: %+v, %v", own, err)
	}
	if acct, internal, err := f.chain.Authenticate(ctx, "own@example.org", "whatever"); err != nil || !internal || acct.ID != own.ID {
		t.Errorf("Authenticate(internal) = %+v, %v, %v; want the account for the caller to check", acct, internal, err)
	}
	kate, err := f.chain.Account(ctx, "k@example.org")
	if err != nil || kate.Address != "kate@example.org" || kate.QuotaBytes != 1000 {
		t.Fatalf("directory user by an alternate address: %+v, %v", kate, err)
	}
	if src, err := f.st.AccountSource(ctx, "kate@example.org"); err != nil || src != "ldap" {
		t.Errorf("provisioned account's source = %q, %v", src, err)
	}
	again, internal, err := f.chain.Authenticate(ctx, "kate@example.org", "kate-pw")
	if err != nil || internal || again.ID != kate.ID {
		t.Errorf("Authenticate(kate) = %+v, %v, %v; want the same account, checked by the directory", again, internal, err)
	}
	if _, _, err := f.chain.Authenticate(ctx, "kate@example.org", "wrong"); !errors.Is(err, ErrInvalid) {
		t.Errorf("wrong password: %v, want ErrInvalid", err)
	}
	calls := f.dir.count()
	if _, _, err := f.chain.Authenticate(ctx, "kate@example.org", ""); !errors.Is(err, ErrInvalid) || f.dir.count() != calls {
		t.Errorf("empty password: %v, %d directory calls; want ErrInvalid without asking", err, f.dir.count()-calls)
	}
	// Disabled: known, so no later source is asked, and refused.
	if _, err := f.chain.Account(ctx, "bob@example.org"); !errors.Is(err, ErrDisabled) {
		t.Errorf("disabled user: %v, want ErrDisabled", err)
	}
	if _, _, err := f.chain.Authenticate(ctx, "bob@example.org", "bob-pw"); !errors.Is(err, ErrInvalid) {
		t.Errorf("disabled user's login: %v, want ErrInvalid", err)
	}
	if _, err := f.chain.Account(ctx, "nobody@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown: %v, want ErrNotFound", err)
	}
}

// TestChainDirectoryAccountNotInternal: once provisioned, a directory
// user's account is never served by the internal source, whatever the
// order, when the directory stops knowing the user.
func TestChainDirectoryAccountNotInternal(t *testing.T) {
	for _, order := range [][]string{{"internal", "ldap"}, {"ldap", "internal"}} {
		f := newFixture(t, order...)
		ctx := context.Background()
		if _, err := f.chain.Account(ctx, "kate@example.org"); err != nil {
			t.Fatal(err)
		}
		f.dir.remove("kate@example.org", "k@example.org")
		f.now = f.now.Add(2 * time.Minute)
		if acct, err := f.chain.Account(ctx, "kate@example.org"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%v: removed from the directory: %+v, %v; want ErrNotFound", order, acct, err)
		}
		if acct, internal, err := f.chain.Authenticate(ctx, "kate@example.org", "kate-pw"); !errors.Is(err, store.ErrNotFound) || internal {
			t.Errorf("%v: login after removal: %+v, %v, %v; want ErrNotFound", order, acct, internal, err)
		}
	}
}

// TestChainUnavailable: a source that cannot answer ends the walk with
// ErrUnavailable (no later source answers instead); a known user is taken
// from the cache, even expired, for up to StaleFor; an unknown one never.
func TestChainUnavailable(t *testing.T) {
	f := newFixture(t, "ldap", "internal")
	ctx := context.Background()
	if _, err := f.chain.Account(ctx, "kate@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.chain.Account(ctx, "nobody@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	f.dir.setDown(true)
	f.now = f.now.Add(2 * time.Minute) // past CacheTTL
	if _, err := f.chain.Account(ctx, "own@example.org"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("directory first and down, internal address: %v, want ErrUnavailable", err)
	}
	if _, err := f.chain.Account(ctx, "nobody@example.org"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("down, cached unknown: %v, want ErrUnavailable (never a bounce from a stale answer)", err)
	}
	if acct, err := f.chain.Account(ctx, "kate@example.org"); err != nil || acct.Address != "kate@example.org" {
		t.Errorf("down, cached known user: %+v, %v; want the account", acct, err)
	}
	if _, _, err := f.chain.Authenticate(ctx, "kate@example.org", "kate-pw"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("down, login: %v, want ErrUnavailable", err)
	}
	f.now = f.now.Add(2 * time.Hour) // past StaleFor
	if _, err := f.chain.Account(ctx, "kate@example.org"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("down past StaleFor: %v, want ErrUnavailable", err)
	}
	f.dir.setDown(false)
	if _, err := f.chain.Account(ctx, "kate@example.org"); err != nil {
		t.Errorf("back: %v", err)
	}
}

// TestChainCache: answers, positive and negative, are reused within
// CacheTTL and asked again after it.
func TestChainCache(t *testing.T) {
	f := newFixture(t, "ldap")
	ctx := context.Background()
	for _, addr := range []string{"kate@example.org", "nobody@example.org"} {
		f.chain.Account(ctx, addr)
		n := f.dir.count()
		f.now = f.now.Add(30 * time.Second)
		f.chain.Account(ctx, addr)
		if f.dir.count() != n {
			t.Errorf("%s asked again within the cache time", addr)
		}
		f.now = f.now.Add(31 * time.Second)
		f.chain.Account(ctx, addr)
		if f.dir.count() != n+1 {
			t.Errorf("%s not asked again after the cache time", addr)
		}
	}
	// A login refreshes what is cached: the directory answered.
	f.dir.remove("kate@example.org", "k@example.org")
	f.chain.Authenticate(ctx, "kate@example.org", "kate-pw")
	n := f.dir.count()
	if _, err := f.chain.Account(ctx, "kate@example.org"); !errors.Is(err, store.ErrNotFound) || f.dir.count() != n {
		t.Errorf("after a login found the user gone: %v, %d calls; want ErrNotFound from the cache", err, f.dir.count()-n)
	}
}

// TestChainConflict: a directory user whose address is one of the
// store's own accounts is not handed that mailbox; the answer is a
// temporary failure, not a bounce.
func TestChainConflict(t *testing.T) {
	f := newFixture(t, "ldap", "internal")
	f.dir.add(Entry{Address: "own@example.org", Addresses: []string{"own@example.org"}, Enabled: true}, "x")
	_, err := f.chain.Account(context.Background(), "own@example.org")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("directory user over an internal account: %v, want a temporary error", err)
	}
}
