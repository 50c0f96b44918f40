package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"pochta/internal/store"
)

// Internal is the name of the store's own accounts in the list of
// sources ([auth] sources).
const Internal = "internal"

// internalSource stands for the store's own accounts in a Chain's order.
// The Chain asks the store itself (and the Authenticator checks the
// password hash), so its methods are never called.
type internalSource struct{}

// InternalSource returns the place of the store's own accounts in the
// list given to New.
func InternalSource() Source { return internalSource{} }

func (internalSource) Name() string { return Internal }
func (internalSource) Lookup(context.Context, string) (Entry, error) {
	return Entry{}, ErrUnknown
}
func (internalSource) Authenticate(context.Context, string, string) (Entry, error) {
	return Entry{}, ErrUnknown
}

// Store is what the Chain needs from the store: the store's own accounts,
// and provisioning and marking the accounts of directory users.
type Store interface {
	GetAccount(ctx context.Context, address string) (store.Account, error)
	SetQuota(ctx context.Context, address string, bytes int64) error
	store.AccountSources
}

// Options configure a Chain.
type Options struct {
	// CacheTTL is how long a directory's answer about an address (the
	// user exists, is enabled, its addresses and quota; or is unknown) is
	// used without asking again. 0 asks every time.
	CacheTTL time.Duration
	// Timeout bounds each question to a source (0: 5 s), so a slow
	// directory answers "unavailable" instead of stalling SMTP.
	Timeout time.Duration
	// StaleFor is how long past CacheTTL a known, enabled user is still
	// taken from the cache while its directory is unreachable, so mail to
	// a known user keeps flowing through an outage (0: 24 h). Unknown
	// addresses are never answered from a stale entry: those get a
	// temporary failure, never a bounce.
	StaleFor time.Duration
	Logger   *slog.Logger
}

// ErrDisabled: a directory knows the address, but its user may not use
// mail (disabled, not in the group). Mail to it is refused, not passed to
// a catch-all.
var ErrDisabled = errors.New("directory: user may not use mail")

// maxCached bounds the cache's entries.
const maxCached = 100000

// Chain asks the account sources in order; the first that knows an
// address answers (ErrUnknown: ask the next). A source that cannot answer
// (ErrUnavailable) ends the walk with a temporary failure: the next
// source is never asked, since an account that came from a directory must
// not be served by another source while that directory is away. The
// store's own accounts ("internal") are those not marked as coming from a
// directory; a directory user's account is provisioned in the store, marked
// with its source, the first time the user logs in or receives mail.
type Chain struct {
	st      Store
	sources []Source
	opts    Options
	log     *slog.Logger
	now     func() time.Time

	mu    sync.Mutex
	cache map[cacheKey]cached
}

type cacheKey struct{ source, addr string }

// cached is a source's answer: an Entry, or ErrUnknown / ErrInvalid.
type cached struct {
	entry   Entry
	err     error
	fetched time.Time
}

// New returns a Chain over sources, asked in this order; InternalSource()
// marks where the store's own accounts come.
func New(st Store, sources []Source, opts Options) *Chain {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.StaleFor <= 0 {
		opts.StaleFor = 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Chain{st: st, sources: sources, opts: opts, log: opts.Logger, now: time.Now, cache: map[cacheKey]cached{}}
}

// Account returns the account that mail to addr goes to: a store account
// of the internal source, or the (provisioned) account of the directory
// user addr belongs to — every address of the user reaches the one
// account named by Entry.Address. store.ErrNotFound when no source knows
// addr; ErrDisabled when its user may not use mail; an error wrapping
// ErrUnavailable when a source cannot answer and nothing usable is cached.
func (c *Chain) Account(ctx context.Context, addr string) (store.Account, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	for _, src := range c.sources {
		if src.Name() == Internal {
			acct, ok, err := c.internal(ctx, addr)
			if err != nil || ok {
				return acct, err
			}
			continue
		}
		e, err := c.lookup(ctx, src, addr)
		switch {
		case errors.Is(err, ErrUnknown):
			continue
		case errors.Is(err, ErrInvalid):
			return store.Account{}, fmt.Errorf("%w: %s refuses %s: %w", ErrDisabled, src.Name(), addr, err)
		case err != nil:
			return store.Account{}, err
		case !e.Enabled:
			return store.Account{}, fmt.Errorf("%w: %s user %s", ErrDisabled, src.Name(), addr)
		}
		return c.provision(ctx, e)
	}
	return store.Account{}, fmt.Errorf("%w: account %s", store.ErrNotFound, addr)
}

// Authenticate checks login and password with the sources in order. For
// an account of the internal source it returns the account and internal
// = true: the caller checks the password against the stored hash. For a
// directory user the directory has checked the password; the account is
// provisioned. store.ErrNotFound when no source knows login; ErrInvalid
// when the source that knows it refuses the password or the user; an
// error wrapping ErrUnavailable when a source cannot answer.
func (c *Chain) Authenticate(ctx context.Context, login, password string) (acct store.Account, internal bool, err error) {
	login = strings.ToLower(strings.TrimSpace(login))
	for _, src := range c.sources {
		if src.Name() == Internal {
			acct, ok, err := c.internal(ctx, login)
			if err != nil || ok {
				return acct, ok, err
			}
			continue
		}
		if password == "" { // an LDAP bind without a password is anonymous: never a login
			return store.Account{}, false, ErrInvalid
		}
		e, err := c.ask(ctx, src, login, func(ctx context.Context) (Entry, error) { return src.Authenticate(ctx, login, password) })
		switch {
		case errors.Is(err, ErrUnknown):
			c.put(src, login, Entry{}, ErrUnknown)
			continue
		case errors.Is(err, ErrInvalid):
			return store.Account{}, false, ErrInvalid
		case err != nil:
			return store.Account{}, false, err
		case !e.Enabled:
			c.put(src, login, e, nil)
			return store.Account{}, false, ErrInvalid
		}
		c.put(src, login, e, nil)
		acct, err := c.provision(ctx, e)
		if errors.Is(err, store.ErrNotFound) { // the user's domain is not served here
			c.log.Warn("directory user's domain is not served here", "source", src.Name(), "address", e.Address)
			return store.Account{}, false, ErrInvalid
		}
		return acct, false, err
	}
	return store.Account{}, false, fmt.Errorf("%w: account %s", store.ErrNotFound, login)
}

// internal finds addr among the store's own accounts (not those
// provisioned for a directory).
func (c *Chain) internal(ctx context.Context, addr string) (store.Account, bool, error) {
	acct, err := c.st.GetAccount(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, false, nil
	}
	if err != nil {
		return store.Account{}, false, err
	}
	source, err := c.st.AccountSource(ctx, addr)
	if errors.Is(err, store.ErrNotFound) { // removed meanwhile
		return store.Account{}, false, nil
	}
	if err != nil || source != "" {
		return store.Account{}, false, err
	}
	return acct, true, nil
}

// provision returns the store account of a directory user, creating it
// (marked with the source) the first time, and applies the directory's
// quota.
func (c *Chain) provision(ctx context.Context, e Entry) (store.Account, error) {
	acct, err := c.st.GetAccount(ctx, e.Address)
	if errors.Is(err, store.ErrNotFound) {
		acct, err = c.st.AddSourcedAccount(ctx, e.Address, e.Source)
		if errors.Is(err, store.ErrExists) { // provisioned by a concurrent call
			acct, err = c.st.GetAccount(ctx, e.Address)
		} else if err == nil {
			c.log.Info("provisioned directory account", "source", e.Source, "address", e.Address)
		}
	}
	if err != nil {
		return store.Account{}, err
	}
	source, err := c.st.AccountSource(ctx, e.Address)
	if err != nil {
		return store.Account{}, err
	}
	if source != e.Source {
		// The store has this address from elsewhere (its own account, or
		// another directory's): a configuration conflict that must not
		// hand one user's mailbox to another. Not a bounce: a retry.
		return store.Account{}, fmt.Errorf("directory: %s user %s: the store's account of that address comes from %q", e.Source, e.Address, source)
	}
	if e.Quota > 0 && e.Quota != acct.QuotaBytes {
		if err := c.st.SetQuota(ctx, e.Address, e.Quota); err != nil {
			return store.Account{}, err
		}
		acct.QuotaBytes = e.Quota
	}
	return acct, nil
}

// lookup is src.Lookup through the cache.
func (c *Chain) lookup(ctx context.Context, src Source, addr string) (Entry, error) {
	c.mu.Lock()
	hit, ok := c.cache[cacheKey{src.Name(), addr}]
	c.mu.Unlock()
	age := c.now().Sub(hit.fetched)
	if ok && age < c.opts.CacheTTL {
		return hit.entry, hit.err
	}
	e, err := c.ask(ctx, src, addr, func(ctx context.Context) (Entry, error) { return src.Lookup(ctx, addr) })
	switch {
	case err == nil || errors.Is(err, ErrUnknown) || errors.Is(err, ErrInvalid):
		c.put(src, addr, e, err)
	case ctx.Err() != nil:
	case ok && hit.err == nil && hit.entry.Enabled && age < c.opts.CacheTTL+c.opts.StaleFor:
		c.log.Warn("directory unavailable, using what it last said", "source", src.Name(), "address", addr, "age", age.Round(time.Second))
		return hit.entry, nil
	}
	return e, err
}

// ask calls a source within the Timeout. Every error but ErrUnknown and
// ErrInvalid becomes ErrUnavailable (wrapped with the cause), unless the
// caller's ctx ended.
func (c *Chain) ask(ctx context.Context, src Source, addr string, call func(context.Context) (Entry, error)) (Entry, error) {
	cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	e, err := call(cctx)
	switch {
	case err == nil:
		if e.Source == "" {
			e.Source = src.Name()
		}
		return e, nil
	case errors.Is(err, ErrUnknown) || errors.Is(err, ErrInvalid):
		return Entry{}, err
	case ctx.Err() != nil:
		return Entry{}, ctx.Err()
	}
	c.log.Warn("directory unavailable", "source", src.Name(), "address", addr, "err", err)
	if errors.Is(err, ErrUnavailable) {
		return Entry{}, err
	}
	return Entry{}, fmt.Errorf("%w: %s: %w", ErrUnavailable, src.Name(), err)
}

// put caches a source's answer about addr.
func (c *Chain) put(src Source, addr string, e Entry, err error) {
	if c.opts.CacheTTL <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cache) >= maxCached {
		for k, v := range c.cache {
			if now.Sub(v.fetched) >= c.opts.CacheTTL+c.opts.StaleFor || len(c.cache) >= maxCached*9/10 {
				delete(c.cache, k)
			}
		}
	}
	c.cache[cacheKey{src.Name(), addr}] = cached{entry: e, err: err, fetched: now}
}
