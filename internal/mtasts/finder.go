package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"pochta/internal/dns"
	"pochta/internal/store"
	"pochta/internal/tlscert"
)

// maxCached bounds the number of domains whose policies (and failed
// fetches) are remembered.
const maxCached = 10000

// retryFetch is how long a failed policy fetch is not repeated for the
// same record id, so that an unreachable policy host does not hold up
// every delivery to the domain.
const retryFetch = 5 * time.Minute

// Options configure a Finder.
type Options struct {
	// Resolver finds the `_mta-sts` TXT record and the policy host's
	// addresses.
	Resolver *dns.Resolver
	// RootCAs verify the policy host's certificate (nil = system roots).
	RootCAs *x509.CertPool
	// Port of the policy host (443; tests use another).
	Port int
	// Timeout bounds one policy fetch (default 30s).
	Timeout time.Duration
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// Logger receives a line per fetch (nil = discard).
	Logger *slog.Logger
	// CacheFile keeps the policies across restarts (RFC 8461 §5.1 wants
	// them remembered for max_age) and for `pochta tls status` ("" =
	// memory only).
	CacheFile string
	// State, when set, keeps them instead, as StateName in the store's
	// server state, so that every node of a store starts with them.
	State store.ServerState
}

// StateName is where a Finder with Options.State keeps its policies
// (the cache file's JSON).
const StateName = "mtasts/policies.json"

// Finder finds, caches and refreshes recipient domains' policies
// (RFC 8461 §3, §5.1). It is safe for concurrent use.
type Finder struct {
	opts Options
	http *http.Client
	log  *slog.Logger

	mu     sync.Mutex
	cache  map[string]cached
	failed map[string]time.Time // domain + " " + id → when a fetch failed
}

type cached struct {
	id      string
	policy  Policy
	expires time.Time
}

// NewFinder returns a Finder.
func NewFinder(opts Options) *Finder {
	if opts.Port == 0 {
		opts.Port = 443
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Resolver == nil {
		opts.Resolver = dns.New(nil, 0)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Finder{opts: opts, log: log, cache: map[string]cached{}, failed: map[string]time.Time{}}
	if opts.CacheFile != "" || opts.State != nil {
		var entries []CacheEntry
		var err error
		if opts.State != nil {
			var data []byte
			if data, err = opts.State.GetState(context.Background(), StateName); err == nil {
				entries, err = ParseCache(data, StateName)
			} else if errors.Is(err, store.ErrNotFound) {
				err = nil
			}
		} else if entries, err = ReadCache(opts.CacheFile); errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		if err != nil {
			log.Warn("mta-sts: policy cache unreadable, starting empty", "file", opts.CacheFile, "err", err)
		}
		for _, e := range entries {
			if p, err := Parse(e.Policy); err == nil && len(f.cache) < maxCached {
				f.cache[e.Domain] = cached{id: e.ID, policy: p, expires: e.Expires}
			}
		}
	}
	tr := &http.Transport{
		DialContext:           f.dial,
		TLSClientConfig:       &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		DisableKeepAlives:     true,
		Proxy:                 nil,
	}
	f.http = &http.Client{
		Transport: tr,
		Timeout:   opts.Timeout,
		// RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed".
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return f
}

// dial resolves the policy host through our resolver, so that the same
// DNS (and, in tests, the test DNS server) answers as for mail.
func (f *Finder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := f.opts.Resolver.LookupIP(ctx, host)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	var last error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, uint16(f.opts.Port)).String())
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// Find returns the policy to apply to mail for domain, or nil when there
// is none. Per RFC 8461 §5.1 a failure to fetch a new policy keeps using a
// cached one that has not expired, and without one mail goes as if the
// domain had no policy; so Find has no error.
func (f *Finder) Find(ctx context.Context, domain string) *Policy {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	now := f.opts.Now()
	f.mu.Lock()
	c, ok := f.cache[domain]
	f.mu.Unlock()
	if ok && !now.Before(c.expires) {
		ok = false
	}
	id, err := f.lookupID(ctx, domain)
	switch {
	case err != nil:
		// No record or DNS trouble: a cached policy still applies
		// (§5.1: "continue to use the cached policy").
		f.log.Debug("mta-sts: no record", "domain", domain, "err", err)
		if ok {
			return &c.policy
		}
		return nil
	case ok && id == c.id:
		return &c.policy
	}
	fk := domain + " " + id
	f.mu.Lock()
	at, recent := f.failed[fk]
	f.mu.Unlock()
	var p Policy
	skipped := recent && now.Sub(at) < retryFetch
	if skipped {
		err = errors.New("mta-sts: fetch failed recently")
	} else {
		p, err = f.fetch(ctx, domain)
	}
	if err != nil {
		f.log.Info("mta-sts: policy fetch failed", "domain", domain, "err", err)
		f.mu.Lock()
		if !skipped {
			if len(f.failed) >= maxCached {
				clear(f.failed)
			}
			f.failed[fk] = now
		}
		f.mu.Unlock()
		if ok {
			return &c.policy
		}
		return nil
	}
	f.mu.Lock()
	if len(f.cache) >= maxCached {
		for d, e := range f.cache {
			if !now.Before(e.expires) || len(f.cache) >= maxCached {
				delete(f.cache, d)
			}
		}
	}
	delete(f.failed, fk)
	f.cache[domain] = cached{id: id, policy: p, expires: now.Add(p.MaxAge)}
	f.save()
	f.mu.Unlock()
	f.log.Info("mta-sts: policy", "domain", domain, "id", id, "mode", p.Mode, "mx", strings.Join(p.MX, " "))
	return &p
}

// lookupID reads `_mta-sts.domain`. Several STSv1 records count as none
// (RFC 8461 §3.1).
func (f *Finder) lookupID(ctx context.Context, domain string) (string, error) {
	txts, err := f.opts.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=STSv1") {
			continue
		}
		id, err := ParseRecord(t)
		if err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("mta-sts: %d STSv1 records", len(ids))
	}
	return ids[0], nil
}

// fetch gets https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC 8461
// §3.3): a valid certificate for that name, status 200, text/plain, no
// redirects, a bounded body.
func (f *Finder) fetch(ctx context.Context, domain string) (Policy, error) {
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	if f.opts.Port != 443 {
		url = "https://mta-sts." + domain + ":" + strconv.Itoa(f.opts.Port) + "/.well-known/mta-sts.txt"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Policy{}, err
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return Policy{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Policy{}, fmt.Errorf("mta-sts: %s answered %s", url, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return Policy{}, errors.New("mta-sts: policy is not text/plain")
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicySize+1))
	if err != nil {
		return Policy{}, err
	}
	if len(body) > maxPolicySize {
		return Policy{}, errors.New("mta-sts: policy too large")
	}
	return Parse(string(body))
}

// CacheEntry is one remembered policy, as kept in the cache file.
type CacheEntry struct {
	Domain  string
	ID      string
	Policy  string // the policy text
	Expires time.Time
}

// save writes the cache file; f.mu is held. A failure is only logged:
// the policies still apply from memory.
func (f *Finder) save() {
	if f.opts.CacheFile == "" && f.opts.State == nil {
		return
	}
	entries := make([]CacheEntry, 0, len(f.cache))
	for d, c := range f.cache {
		entries = append(entries, CacheEntry{Domain: d, ID: c.id, Policy: c.policy.String(), Expires: c.expires})
	}
	slices.SortFunc(entries, func(a, b CacheEntry) int { return strings.Compare(a.Domain, b.Domain) })
	data, err := json.MarshalIndent(entries, "", "\t")
	if err == nil && f.opts.State != nil {
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
		err = f.opts.State.PutState(ctx, StateName, data)
		cancel()
	} else if err == nil {
		if err = os.MkdirAll(filepath.Dir(f.opts.CacheFile), 0o700); err == nil {
			err = tlscert.WriteFile(f.opts.CacheFile, data, 0o600)
		}
	}
	if err != nil {
		f.log.Warn("mta-sts: saving the policy cache", "err", err)
	}
}

// ReadCache reads a Finder's cache file.
func ReadCache(path string) ([]CacheEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseCache(data, path)
}

// ParseCache reads a Finder's cache (the file's or StateName's JSON);
// from names it in errors.
func ParseCache(data []byte, from string) ([]CacheEntry, error) {
	var entries []CacheEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("mta-sts: %s: %w", from, err)
	}
	return entries, nil
}
