package auth

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sync/atomic"
	"time"
)

// What a login costs. An argon2id verification takes tens of milliseconds
// of CPU and argonMemory (19 MiB) of memory, on purpose. Two things keep
// that cost from being paid once per connection:
//
//   - verifyCache remembers recent successful verifications, as Dovecot's
//     auth cache does: a client that reconnects every minute (most phones
//     and desktop clients) pays one hash per CacheTTL, not per session.
//     Entries are keyed by an HMAC of (user, password) under a key drawn
//     at start, so the cache never holds a password or anything that
//     would help guess one, and they carry the stored hash they were
//     verified against: a password change (a new salted hash) or a
//     removed account misses at once, since the cheap account lookup is
//     still made on every login. Failures are never remembered.
//   - hashGate bounds the argon2id computations running at once, so a
//     login storm (every client reconnecting after a restart) queues for
//     CPU instead of taking 19 MiB per waiting client: 1,000 clients
//     connecting 200 at a time took the server from 34 MB to 6.9 GB of
//     resident memory before the bound.

// cacheKey is HMAC-SHA256(process key, len(user) user password).
type cacheKey [sha256.Size]byte

// verifyCache is a bounded LRU of successful verifications. It is not
// safe for concurrent use; the Authenticator's mutex guards it.
type verifyCache struct {
	secret []byte
	ttl    time.Duration
	size   int
	lru    *list.List // of *cacheEntry, most recently used first
	byKey  map[cacheKey]*list.Element
}

type cacheEntry struct {
	key     cacheKey
	stored  string // the PHC hash the password was verified against
	expires time.Time
}

func newVerifyCache(secret []byte, ttl time.Duration, size int) *verifyCache {
	return &verifyCache{secret: secret, ttl: ttl, size: size, lru: list.New(), byKey: map[cacheKey]*list.Element{}}
}

func (c *verifyCache) key(user, password string) cacheKey {
	m := hmac.New(sha256.New, c.secret)
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(user))))
	m.Write([]byte(user))
	m.Write([]byte(password))
	var k cacheKey
	m.Sum(k[:0])
	return k
}

// hit reports whether key was verified against stored less than ttl ago.
// A stale entry (expired, or verified against another stored hash) is
// dropped.
func (c *verifyCache) hit(k cacheKey, stored string, now time.Time) bool {
	el := c.byKey[k]
	if el == nil {
		return false
	}
	e := el.Value.(*cacheEntry)
	if e.stored != stored || !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.byKey, k)
		return false
	}
	c.lru.MoveToFront(el)
	return true
}

// add remembers a successful verification, evicting the least recently
// used entry when full.
func (c *verifyCache) add(k cacheKey, stored string, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	if el := c.byKey[k]; el != nil {
		e := el.Value.(*cacheEntry)
		e.stored, e.expires = stored, now.Add(c.ttl)
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.size {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.byKey, old.Value.(*cacheEntry).key)
	}
	c.byKey[k] = c.lru.PushFront(&cacheEntry{key: k, stored: stored, expires: now.Add(c.ttl)})
}

// flight is a verification in progress; logins with the same key and
// stored hash that arrive meanwhile wait for its answer instead of
// computing the same hash again.
type flight struct {
	stored string
	done   chan struct{}
	ok     bool
	err    error
}

// hashGate bounds the argon2id computations running at once and counts
// them.
type hashGate struct {
	slots  chan struct{}
	count  atomic.Int64 // hashes computed
	active atomic.Int64
	peak   atomic.Int64 // most ever computed at once
}

func newHashGate(n int) *hashGate { return &hashGate{slots: make(chan struct{}, n)} }

// verify is Verify once a slot is free; it gives up when ctx ends first.
func (g *hashGate) verify(ctx context.Context, stored, password string) (bool, error) {
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-g.slots }()
	g.count.Add(1)
	n := g.active.Add(1)
	defer g.active.Add(-1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	return Verify(stored, password), nil
}

// verify checks password against the account's stored hash: from the
// cache when this user and password were verified against the same
// stored hash within the TTL, else by waiting for an identical
// verification in progress, else by computing it through the gate.
func (a *Authenticator) verify(ctx context.Context, user, password, stored string) (bool, error) {
	k := a.cache.key(user, password)
	for {
		a.mu.Lock()
		if a.cache.hit(k, stored, a.now()) {
			a.mu.Unlock()
			return true, nil
		}
		if f := a.flights[k]; f != nil {
			a.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return false, ctx.Err()
			}
			if f.err == nil && f.stored == stored {
				return f.ok, nil
			}
			continue // its client gave up, or the password changed meanwhile
		}
		f := &flight{stored: stored, done: make(chan struct{})}
		a.flights[k] = f
		a.mu.Unlock()

		f.ok, f.err = a.gate.verify(ctx, stored, password)
		a.mu.Lock()
		delete(a.flights, k)
		if f.ok {
			a.cache.add(k, stored, a.now())
		}
		a.mu.Unlock()
		close(f.done)
		return f.ok, f.err
	}
}
