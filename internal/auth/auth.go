// Package auth checks logins for every protocol (SMTP AUTH, IMAP, POP3):
// password hashing with argon2id, verification against the Directory (or,
// through Options.Sources, the ordered account sources, where a directory
// such as LDAP checks its users' passwords itself),
// SCRAM-SHA-256[-PLUS] exchanges against stored verifiers (scram.go),
// a bounded cache of recent successful verifications and a bound on the
// hashes computed at once (cache.go), slowing down failed logins per
// client IP, the "no plaintext password without TLS" rule, and the record
// of recent logins that POP/IMAP-before-SMTP relies on.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"pochta/internal/directory"
	"pochta/internal/ratelimit"
	"pochta/internal/store"
)

// ErrInvalid is returned for a wrong user name or password; callers must not
// tell the two apart to the client.
var ErrInvalid = errors.New("auth: invalid credentials")

// argon2id parameters: OWASP's recommended minimum (19 MiB, t=2, p=1), which
// keeps a burst of concurrent logins from exhausting memory.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// Hash returns a PHC-format argon2id hash of password.
func Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches a hash made by Hash.
func Verify(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<21 || t == 0 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// GeneratePassword returns a random password of 20 URL-safe characters.
func GeneratePassword() string {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Options configure an Authenticator.
type Options struct {
	// PlaintextOnLoopback lets loopback clients send passwords without TLS.
	PlaintextOnLoopback bool
	// FailureDelay is the delay after the first failure from an IP; it
	// doubles per further failure up to MaxFailureDelay.
	FailureDelay    time.Duration
	MaxFailureDelay time.Duration
	// BeforeSMTPWindow is how long a POP3/IMAP login lets its IP relay.
	BeforeSMTPWindow time.Duration
	// CacheTTL is how long a successful verification of a user's password
	// is remembered (see verifyCache); 0 disables the cache.
	CacheTTL time.Duration
	// CacheSize bounds the remembered verifications (0 = 10,000).
	CacheSize int
	// MaxConcurrentHashes bounds the argon2id verifications computed at
	// once; further logins wait their turn (0 = GOMAXPROCS).
	MaxConcurrentHashes int
	// MaxFailuresPerHour caps failed logins per client IP in any hour
	// (limit.go); 0 means no cap. FailureExempt networks are not capped.
	MaxFailuresPerHour int
	FailureExempt      []netip.Prefix
	// MaxAccountFailuresPerHour: past this many failed logins for one
	// user name in an hour (from any IPs), each further failure for it
	// waits MaxFailureDelay (limit.go); 0 means no such limit.
	MaxAccountFailuresPerHour int
	// MaxLoginsPerMinute caps an account's successful logins (new
	// sessions, every protocol) per minute from outside FailureExempt
	// networks (limit.go); 0 means no cap.
	MaxLoginsPerMinute int
	// AppPasswords, when set, lets accounts log in with app passwords
	// and refuse their main password (apppass.go).
	AppPasswords store.AppPasswords
	// SCRAM keeps the accounts' SCRAM-SHA-256 verifiers; nil offers no
	// SCRAM (scram.go).
	SCRAM store.SCRAMStore
	// Sources, when set, is the ordered list of account sources
	// (directory.Chain) that decides who answers for a login; nil means
	// the store's own accounts only.
	Sources Sources
	// OnLogin, when set, learns each password login's protocol ("" when
	// not known) and result ("ok", "failed", "error"): the metrics.
	OnLogin func(proto, result string)
	// Flags, when set, refuses every login of a disabled account
	// (store.AccountFlags; disabled.go).
	Flags store.AccountFlagStore
}

// Sources finds who answers for a login ([auth] sources). For the
// store's own accounts it returns the account and internal = true, and
// the Authenticator checks the password against the stored hash (through
// its cache); for a directory user the directory has checked the password
// and no verification is cached here. store.ErrNotFound: nobody knows the
// login; directory.ErrInvalid: the password or the user is refused; any
// other error is temporary (the directory is unreachable).
type Sources interface {
	Authenticate(ctx context.Context, login, password string) (acct store.Account, internal bool, err error)
	// Account finds (provisioning it when needed) the account an address
	// reaches, as for mail: errors when nobody knows it, the user may not
	// use mail, or a source cannot answer.
	Account(ctx context.Context, addr string) (store.Account, error)
}

// Authenticator verifies logins against a Directory.
type Authenticator struct {
	dir  store.Directory
	opts Options
	now  func() time.Time

	gate *hashGate

	mu       sync.Mutex
	failures map[netip.Addr]*failure
	logins   map[netip.Addr]time.Time
	cache    *verifyCache
	flights  map[cacheKey]*flight
	dummy    string            // hash verified for unknown users, to equalise timing
	hourly   *ratelimit.Window // failures per IP
	perUser  *ratelimit.Window // failures per user name
	perLogin *ratelimit.Window // successful logins per account
}

type failure struct {
	count int
	last  time.Time
}

// New returns an Authenticator over dir.
func New(dir store.Directory, opts Options) *Authenticator {
	if opts.MaxFailureDelay < opts.FailureDelay {
		opts.MaxFailureDelay = opts.FailureDelay
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 10000
	}
	if opts.MaxConcurrentHashes <= 0 {
		opts.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	secret := make([]byte, 32)
	rand.Read(secret) // never fails on Linux (crypto/rand)
	dummy, _ := Hash("pochta-dummy-password")
	a := &Authenticator{
		dir: dir, opts: opts, now: time.Now,
		gate:     newHashGate(opts.MaxConcurrentHashes),
		failures: map[netip.Addr]*failure{},
		logins:   map[netip.Addr]time.Time{},
		cache:    newVerifyCache(secret, opts.CacheTTL, opts.CacheSize),
		flights:  map[cacheKey]*flight{},
		dummy:    dummy,
	}
	clock := ratelimit.Options{Now: func() time.Time { return a.now() }}
	a.hourly = ratelimit.NewWindow(opts.MaxFailuresPerHour, time.Hour, clock)
	a.perUser = ratelimit.NewWindow(opts.MaxAccountFailuresPerHour, time.Hour, clock)
	a.perLogin = ratelimit.NewWindow(opts.MaxLoginsPerMinute, time.Minute, clock)
	return a
}

// hashes returns how many argon2id verifications Login has computed.
func (a *Authenticator) hashes() int64 { return a.gate.count.Load() }

// Login checks username (an address) and password for a client at remote.
// On failure it waits (growing with repeated failures from the same IP)
// before returning ErrInvalid, unless ctx ends first. A password hash is
// computed only when this user and password have not been verified
// against the account's current hash within CacheTTL, and then only when
// one of MaxConcurrentHashes slots is free; if ctx ends while waiting for
// one, Login returns ctx's error. With Sources, a directory user's
// password is checked by the directory on every login (never from the
// cache); a directory that cannot answer makes Login return an error
// other than ErrInvalid (a temporary failure), without a delay.
//
// Login accepts app passwords that are not limited to some protocols; the
// protocol servers log in through For(proto), which accepts those of their
// protocol. App passwords and the main-password refusal apply to the
// store's own accounts.
func (a *Authenticator) Login(ctx context.Context, username, password string, remote netip.Addr) (store.Account, error) {
	return a.login(ctx, "", username, password, remote)
}

func (a *Authenticator) login(ctx context.Context, proto, username, password string, remote netip.Addr) (_ store.Account, err error) {
	if a.opts.OnLogin != nil {
		defer func() { a.opts.OnLogin(proto, loginResult(err)) }()
	}
	remote = remote.Unmap()
	username = strings.ToLower(strings.TrimSpace(username))
	if a.capped(remote) {
		return store.Account{}, ErrTooManyFailures
	}
	acct, internal, err := a.account(ctx, proto, username, password)
	switch {
	case err == nil:
		m := mainPassword // a directory has checked the password
		if internal {
			if m, err = a.check(ctx, proto, acct, username, password); err != nil {
				return store.Account{}, err
			}
		}
		if m != noMatch {
			if err := a.refuseDisabled(ctx, acct.ID); err != nil {
				if errors.Is(err, ErrDisabled) {
					a.failed(ctx, remote, username)
				}
				return store.Account{}, err
			}
			if err := a.countLogin(remote, acct.Address); err != nil {
				return store.Account{}, err
			}
			a.succeeded(remote)
			if m == mainPassword && internal {
				// The main password matched its argon2id hash: the one
				// moment its SCRAM verifier can be made (scram.go).
				a.addSCRAMKeys(ctx, acct, password)
			}
			return acct, nil
		}
	case errors.Is(err, store.ErrNotFound):
		// The same cost as a real check, never cached.
		if _, err := a.gate.verify(ctx, a.dummy, password); err != nil {
			return store.Account{}, err
		}
	case errors.Is(err, directory.ErrInvalid):
	default:
		return store.Account{}, err
	}
	a.failed(ctx, remote, username)
	return store.Account{}, ErrInvalid
}

// succeeded records a successful login from remote: its failures are
// forgiven and it may relay for a while (POP/IMAP-before-SMTP).
func (a *Authenticator) succeeded(remote netip.Addr) {
	a.mu.Lock()
	delete(a.failures, remote)
	a.logins[remote] = a.now()
	a.mu.Unlock()
}

// failed records a failed login for username from remote and waits the
// delay it earned (the longest one once the user name has had too many
// failures, limit.go), or until ctx ends.
func (a *Authenticator) failed(ctx context.Context, remote netip.Addr, username string) {
	delay := a.fail(remote)
	if a.countFailure(remote, username) {
		delay = a.opts.MaxFailureDelay
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// account finds who answers for username: the configured Sources, or
// the store's own accounts (internal = true: check the stored hash).
func (a *Authenticator) account(ctx context.Context, proto, username, password string) (store.Account, bool, error) {
	if a.opts.Sources == nil {
		acct, err := a.dir.GetAccount(ctx, username)
		return acct, err == nil, err
	}
	// App passwords are ours, not the directory's: a directory user's
	// app password is checked here, once the sources say the user may
	// use mail (internal = false: nothing left to check).
	if acct, ok, err := a.sourcedAppPassword(ctx, proto, username, password); err != nil || ok {
		return acct, false, err
	}
	acct, internal, err := a.opts.Sources.Authenticate(ctx, username, password)
	if err == nil && !internal {
		// The directory accepted the user's own password, which an
		// account that takes only app passwords refuses.
		refused, rerr := a.mainPasswordRefused(ctx, acct.ID)
		switch {
		case rerr != nil:
			return store.Account{}, false, rerr
		case refused:
			return store.Account{}, false, directory.ErrInvalid
		}
	}
	return acct, internal, err
}

// fail records a failure and returns how long to delay the answer.
func (a *Authenticator) fail(remote netip.Addr) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	f := a.failures[remote]
	if f == nil || now.Sub(f.last) > time.Hour {
		f = &failure{}
		a.failures[remote] = f
	}
	f.count++
	f.last = now
	if len(a.failures) > 100000 { // bound memory under a distributed attack
		for ip, g := range a.failures {
			if now.Sub(g.last) > time.Minute {
				delete(a.failures, ip)
			}
		}
	}
	d := a.opts.FailureDelay
	for i := 1; i < f.count && d < a.opts.MaxFailureDelay; i++ {
		d *= 2
	}
	return min(d, a.opts.MaxFailureDelay)
}

// PlaintextAllowed reports whether a password may be sent on a connection
// from remote that is (or is not) protected by TLS.
func (a *Authenticator) PlaintextAllowed(remote net.Addr, tlsActive bool) bool {
	if tlsActive {
		return true
	}
	return a.opts.PlaintextOnLoopback && IsLoopback(remote)
}

// RecentLogin reports whether a POP3/IMAP login from ip succeeded within
// the POP/IMAP-before-SMTP window.
func (a *Authenticator) RecentLogin(ip netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.logins[ip.Unmap()]
	return ok && a.now().Sub(t) <= a.opts.BeforeSMTPWindow
}

// IsLoopback reports whether addr is a loopback TCP address.
func IsLoopback(addr net.Addr) bool {
	ip := AddrIP(addr)
	return ip.IsValid() && ip.IsLoopback()
}

// AddrIP extracts the IP of a net.Addr (zero Addr if there is none).
func AddrIP(addr net.Addr) netip.Addr {
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
