package queue

import (
	"context"
	"errors"
	"slices"
	"time"
)

// What the Queue does differently on a spool shared by several nodes
// (pgSpool): it holds an entry only while working on it, claiming due
// entries on every rescan and NOTIFY and releasing each once nothing is
// due now.

// releaseTimeout bounds the release of held entries at Shutdown.
const releaseTimeout = 10 * time.Second

// snapshot copies rec so that it can be written without Queue.mu. Called
// with q.mu held.
func snapshot(rec *record) *record {
	c := *rec
	c.Recipients = slices.Clone(rec.Recipients)
	return &c
}

// dueAt is when rec next needs work: its earliest pending attempt, at once
// for a DSN still owed, or its delay warning.
func (q *Queue) dueAt(rec *record) time.Time {
	now := q.now()
	var due time.Time
	consider := func(t time.Time) {
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	pending := false
	for _, rs := range rec.Recipients {
		switch {
		case rs.Status == StatusPending:
			pending = true
			consider(rs.NextAttempt)
		case !rs.Reported:
			consider(now)
		}
	}
	if w := q.opts.DelayWarning; w > 0 && pending && !rec.DelayWarned {
		consider(rec.Created.Add(w))
	}
	if due.IsZero() {
		due = now
	}
	return due
}

// heldIDs lists the entries this queue holds (their leases are extended).
func (q *Queue) heldIDs() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := make([]string, 0, len(q.entries))
	for id := range q.entries {
		ids = append(ids, id)
	}
	return ids
}

// lost forgets e after another node took it over: its state here is stale.
func (q *Queue) lost(e *entry) {
	q.mu.Lock()
	e.gone = true
	q.unschedule(e)
	id := e.rec.ID
	if q.entries[id] == e {
		delete(q.entries, id)
	}
	q.mu.Unlock()
	q.log.Warn("entry taken over by another node (lease expired)", "id", id)
}

// release hands e back to the shared spool when nothing about it is due
// now and nothing runs for it; a no-op on the file spool, which holds
// every entry for good.
func (q *Queue) release(e *entry) {
	if q.pg == nil {
		return
	}
	e.wmu.Lock()
	defer e.wmu.Unlock()
	now := q.now()
	q.mu.Lock()
	if e.gone || e.dropped || e.finishing || len(e.busy) > 0 || q.needsFinish(e, now) || !q.dueAt(e.rec).After(now) {
		q.mu.Unlock()
		return
	}
	// Not written nor dispatched any more, but still held (so not claimed
	// again by us) until the row is released.
	e.gone, e.finishing = true, true
	q.unschedule(e)
	id := e.rec.ID
	q.mu.Unlock()
	if err := q.pg.release(context.Background(), id); err != nil && !errors.Is(err, errLeaseLost) {
		// The lease expires and a node claims the entry again.
		q.log.Error("cannot release queue entry", "id", id, "err", err)
	}
	q.mu.Lock()
	if q.entries[id] == e {
		delete(q.entries, id)
	}
	q.mu.Unlock()
}

// rescanSpool applies management requests (file spool) or claims due
// entries (shared spool).
func (q *Queue) rescanSpool() {
	if q.pg == nil {
		q.applyRequests()
		return
	}
	q.mu.Lock()
	room := q.opts.Workers - len(q.entries)
	closing := q.closing
	q.mu.Unlock()
	if room <= 0 || closing {
		return
	}
	recs, drops, err := q.pg.claim(q.ctx, room)
	if err != nil {
		q.log.Error("cannot claim queue entries", "err", err)
		return
	}
	if len(recs) == 0 {
		return
	}
	q.mu.Lock()
	for i, rec := range recs {
		if q.entries[rec.ID] != nil {
			continue // ours already (its lease had lapsed): keep the live state
		}
		q.addEntry(rec, drops[i])
	}
	q.mu.Unlock()
	q.log.Debug("claimed queue entries", "count", len(recs))
	q.kick()
}

// closeSpool writes the state of entries not saved on purpose, releases
// the entries still held and closes the spool.
func (q *Queue) closeSpool() {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	q.mu.Lock()
	var unsaved []*entry
	for _, e := range q.entries {
		if e.unsaved && !e.gone {
			unsaved = append(unsaved, e)
		}
	}
	q.mu.Unlock()
	for _, e := range unsaved {
		q.persistCtx(ctx, e)
	}
	if q.pg != nil {
		q.mu.Lock()
		var ids []string
		for id, e := range q.entries {
			if !e.gone {
				e.gone = true
				ids = append(ids, id)
			}
		}
		q.mu.Unlock()
		for _, id := range ids {
			if err := q.pg.release(ctx, id); err != nil && !errors.Is(err, errLeaseLost) {
				q.log.Warn("cannot release queue entry; its lease will expire", "id", id, "err", err)
			}
		}
	}
	q.sp.close()
}
