package imapserver

import (
	"context"
	"sort"
	"sync"

	"pochta/internal/store"
)

// uidCache keeps the UID lists of recently selected large mailboxes, so a
// SELECT of a 100,000-message mailbox costs a copy plus the changes since
// the last SELECT (store.Changes) instead of a full store.UIDs scan, and
// the sessions that select it share one list instead of a copy each.
// Updates are idempotent (new UIDs above the maximum are appended,
// vanished ones removed), so replaying a change twice is harmless.
type uidCache struct {
	mu  sync.Mutex
	m   map[int64]*cachedUIDs
	min int // mailboxes with fewer messages are not cached (0: uidCacheMin)
}

type cachedUIDs struct {
	uidValidity uint32
	modseq      uint64
	uids        []uint32
}

const (
	uidCacheMin     = 1000 // smaller mailboxes are simply scanned
	uidCacheEntries = 64
)

// uids returns mb's UID list, valid at least as of mb.HighestModSeq. The
// list may be shared with the cache and other sessions: it is read-only
// (appending to it copies, its capacity being its length).
func (c *uidCache) uids(ctx context.Context, st store.Mailstore, mb store.Mailbox) ([]uint32, error) {
	c.mu.Lock()
	e := c.m[mb.ID]
	threshold := c.min
	c.mu.Unlock()
	if threshold <= 0 {
		threshold = uidCacheMin
	}
	var base []uint32
	if e != nil && e.uidValidity == mb.UIDValidity {
		base = e.uids
		if e.modseq != mb.HighestModSeq {
			changed, vanished, err := st.Changes(ctx, mb.ID, e.modseq)
			if err != nil {
				return nil, err
			}
			base = applyChanges(base, changed, vanished)
		}
	} else {
		var err error
		if base, err = st.UIDs(ctx, mb.ID); err != nil {
			return nil, err
		}
	}
	if len(base) >= threshold {
		c.mu.Lock()
		if c.m == nil {
			c.m = map[int64]*cachedUIDs{}
		}
		if _, ok := c.m[mb.ID]; !ok && len(c.m) >= uidCacheEntries {
			for k := range c.m { // evict an arbitrary entry
				delete(c.m, k)
				break
			}
		}
		c.m[mb.ID] = &cachedUIDs{uidValidity: mb.UIDValidity, modseq: mb.HighestModSeq, uids: base}
		c.mu.Unlock()
	}
	// Shared, not copied: capacity = length, so a session's append
	// reallocates, and selected.expunged builds a new list.
	return base[:len(base):len(base)], nil
}

// applyChanges returns a new list: uids without vanished, plus new UIDs.
func applyChanges(uids []uint32, changed []store.Message, vanished []uint32) []uint32 {
	max := uint32(0)
	if len(uids) > 0 {
		max = uids[len(uids)-1]
	}
	gone := make(map[uint32]bool, len(vanished))
	for _, u := range vanished {
		gone[u] = true
	}
	out := make([]uint32, 0, len(uids)+len(changed))
	for _, u := range uids {
		if !gone[u] {
			out = append(out, u)
		}
	}
	var fresh []uint32
	for _, m := range changed {
		if m.UID > max && !gone[m.UID] {
			fresh = append(fresh, m.UID)
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i] < fresh[j] })
	for i, u := range fresh {
		if i == 0 || u != fresh[i-1] {
			out = append(out, u)
		}
	}
	return out
}
