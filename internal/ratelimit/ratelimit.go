// Package ratelimit counts events per key (a client IP, an account) over
// a sliding window, to refuse abusers: connections or messages per minute,
// messages and distinct recipients per day. Memory is bounded: a Window
// tracks at most MaxKeys keys, forgets a key once its window has passed
// without events, and when full evicts an arbitrary key (so a flood of
// new addresses costs the flooder, not the server). Time comes from an
// injected clock, so tests need no sleeping.
package ratelimit

import (
	"sync"
	"time"
)

// DefaultMaxKeys bounds the keys a limiter tracks when Options leave it 0.
const DefaultMaxKeys = 100000

// Options configure a limiter.
type Options struct {
	// MaxKeys bounds the tracked keys (0 = DefaultMaxKeys).
	MaxKeys int
	// Now is the clock (nil = time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Window allows at most Limit events per key in any Period (a sliding
// window estimated from the current and the previous fixed window, as
// Cloudflare's and nginx's limiters: the previous window's count weighs
// by how much of it still overlaps the sliding one).
type Window struct {
	limit  int
	period time.Duration
	opts   Options

	mu   sync.Mutex
	keys map[string]*window
}

type window struct {
	start     time.Time // of the current fixed window
	cur, prev int
	refused   int // refusals since the key was last allowed
}

// NewWindow returns a Window; limit <= 0 allows everything.
func NewWindow(limit int, period time.Duration, opts Options) *Window {
	return &Window{limit: limit, period: period, opts: opts.withDefaults(), keys: map[string]*window{}}
}

// Limit is the configured number of events per period.
func (l *Window) Limit() int { return l.limit }

// Allow counts an event for key and reports whether it is within the
// limit; a refused event is not counted toward the limit. refused is the
// number of consecutive refusals of key including this one (0 when
// allowed), so a caller can log the first and then every power of two
// instead of every refusal.
func (l *Window) Allow(key string) (ok bool, refused int) {
	if l == nil || l.limit <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Now()
	w := l.get(key, now)
	if l.estimate(w, now) >= float64(l.limit) {
		w.refused++
		return false, w.refused
	}
	w.cur++
	w.refused = 0
	return true, 0
}

// get returns key's window advanced to now, creating it (and making room
// for it) when needed.
func (l *Window) get(key string, now time.Time) *window {
	w := l.keys[key]
	if w == nil {
		if len(l.keys) >= l.opts.MaxKeys {
			l.sweep(now)
		}
		w = &window{start: now}
		l.keys[key] = w
		return w
	}
	if elapsed := now.Sub(w.start); elapsed >= l.period {
		n := int(elapsed / l.period)
		w.prev = 0
		if n == 1 {
			w.prev = w.cur
		}
		w.cur = 0
		w.start = w.start.Add(time.Duration(n) * l.period)
	}
	return w
}

// estimate is the number of events in the sliding period ending now.
func (l *Window) estimate(w *window, now time.Time) float64 {
	overlap := 1 - float64(now.Sub(w.start))/float64(l.period)
	return float64(w.cur) + float64(w.prev)*max(overlap, 0)
}

// sweep forgets keys idle for two periods; if none is, it evicts keys
// until a tenth of the room is free.
func (l *Window) sweep(now time.Time) {
	for k, w := range l.keys {
		if now.Sub(w.start) >= 2*l.period {
			delete(l.keys, k)
		}
	}
	for k := range l.keys { // map order is random: no key can count on staying
		if len(l.keys) < l.opts.MaxKeys-l.opts.MaxKeys/10 {
			break
		}
		delete(l.keys, k)
	}
}

// Len returns the number of tracked keys.
func (l *Window) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// Distinct allows at most Limit distinct items (recipients) per key
// (account) within Period of each item's last use: an item already used
// within the period is always allowed again.
type Distinct struct {
	limit  int
	period time.Duration
	opts   Options

	mu   sync.Mutex
	keys map[string]map[string]time.Time // key -> item -> last use
}

// NewDistinct returns a Distinct; limit <= 0 allows everything.
func NewDistinct(limit int, period time.Duration, opts Options) *Distinct {
	return &Distinct{limit: limit, period: period, opts: opts.withDefaults(), keys: map[string]map[string]time.Time{}}
}

// Limit is the configured number of distinct items per period.
func (d *Distinct) Limit() int { return d.limit }

// Allow records item for key and reports whether it is within the limit.
// A refused item is not recorded.
func (d *Distinct) Allow(key, item string) bool {
	if d == nil || d.limit <= 0 {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.opts.Now()
	items := d.keys[key]
	if items == nil {
		if len(d.keys) >= d.opts.MaxKeys {
			d.sweep(now)
		}
		items = map[string]time.Time{}
		d.keys[key] = items
	}
	if last, ok := items[item]; ok && now.Sub(last) < d.period {
		items[item] = now
		return true
	}
	for it, last := range items {
		if now.Sub(last) >= d.period {
			delete(items, it)
		}
	}
	if len(items) >= d.limit {
		return false
	}
	items[item] = now
	return true
}

func (d *Distinct) sweep(now time.Time) {
	for k, items := range d.keys {
		idle := true
		for _, last := range items {
			if now.Sub(last) < d.period {
				idle = false
				break
			}
		}
		if idle {
			delete(d.keys, k)
		}
	}
	for k := range d.keys {
		if len(d.keys) < d.opts.MaxKeys-d.opts.MaxKeys/10 {
			break
		}
		delete(d.keys, k)
	}
}

// Exceeded reports whether key has used up its limit, without counting an
// event (for limits counted only on failures, checked before each try).
func (l *Window) Exceeded(key string) bool {
	if l == nil || l.limit <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Now()
	w := l.keys[key]
	if w == nil {
		return false
	}
	w = l.get(key, now)
	return l.estimate(w, now) >= float64(l.limit)
}
