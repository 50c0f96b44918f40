package store

import (
	"sort"
	"sync"
)

// Watchers fans changes out to the Watch subscriptions of one backend
// (Mailstore.Watch); every backend embeds one and calls Notify after each
// commit. The zero value is ready to use.
type Watchers struct {
	mu     sync.Mutex
	m      map[int64]map[*watcher]struct{}
	closed bool
}

// watcher is one Watch subscription: a channel, or a function (WatchFunc).
type watcher struct {
	ch      chan Change
	fn      func(Change)
	last    Change // most recently queued change
	stopped bool
}

func (w *watcher) stop() {
	if !w.stopped {
		w.stopped = true
		if w.ch != nil {
			close(w.ch)
		}
	}
}

// watchBuffer is the capacity of a Watch channel.
const watchBuffer = 64

// Watch implements Mailstore.Watch. The channel is closed by cancel or
// Close.
func (h *Watchers) Watch(accountID int64) (<-chan Change, func()) {
	w := &watcher{ch: make(chan Change, watchBuffer)}
	return w.ch, h.add(accountID, w)
}

// WatchFunc implements WatchFuncer: no channel and no buffer per
// subscription, which is what lets 10,000 IMAP sessions in IDLE cost
// little (fn is called in Notify, under h.mu).
func (h *Watchers) WatchFunc(accountID int64, fn func(Change)) func() {
	return h.add(accountID, &watcher{fn: fn})
}

// add subscribes w to accountID and returns its cancel function.
func (h *Watchers) add(accountID int64, w *watcher) func() {
	h.mu.Lock()
	if h.closed {
		w.stop()
		h.mu.Unlock()
		return func() {}
	}
	if h.m == nil {
		h.m = map[int64]map[*watcher]struct{}{}
	}
	set := h.m[accountID]
	if set == nil {
		set = map[*watcher]struct{}{}
		h.m[accountID] = set
	}
	set[w] = struct{}{}
	h.mu.Unlock()
	cancel := func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if set := h.m[accountID]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(h.m, accountID)
			}
		}
		w.stop()
	}
	return cancel
}

// Accounts lists the accounts that have watchers.
func (h *Watchers) Accounts() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]int64, 0, len(h.m))
	for a := range h.m {
		out = append(out, a)
	}
	return out
}

// Close closes every watch channel; later Watch calls get a closed one.
func (h *Watchers) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, set := range h.m {
		for w := range set {
			w.stop()
		}
	}
	h.m = nil
}

// Notify sends changes to watchers without blocking. A change equal to the
// one most recently queued and not yet received is coalesced; when a
// channel is full its oldest entry is dropped, so the newest change always
// arrives.
func (h *Watchers) Notify(changes []Change) {
	if len(changes) == 0 {
		return
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].AccountID < changes[j].AccountID })
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range changes {
		for w := range h.m[c.AccountID] {
			if w.stopped {
				continue
			}
			if w.fn != nil {
				w.fn(c)
				continue
			}
			if len(w.ch) > 0 && w.last == c {
				continue
			}
			w.last = c
			select {
			case w.ch <- c:
				continue
			default:
			}
			select {
			case <-w.ch:
			default:
			}
			select {
			case w.ch <- c:
			default:
			}
		}
	}
}
