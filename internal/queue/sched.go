package queue

import (
	"container/heap"
	"time"

	"pochta/internal/envelope"
)

// The scheduler's index of what is due. Every entry with something to do
// is in exactly one of these places, so dispatch never walks the whole
// queue (with 10,000 queued messages, sorting or scanning all of them
// after every attempt made the drain quadratic):
//
//   - in Queue.sched, a min-heap by (due time, id: oldest first), when it
//     has a retry, a DSN, a delay warning or a removal due at e.due;
//   - parked on Queue.parked[d], in arrival order, when a recipient in
//     domain d is due but d has PerDomain deliveries running; it goes
//     back into the heap when one of them ends;
//   - running: an attempt (busy) or a finisher; their end reschedules it.
//
// Everything here is called with Queue.mu held.

// schedHeap orders entries by due time, then id.
type schedHeap []*entry

func (h schedHeap) Len() int { return len(h) }
func (h schedHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].rec.ID < h[j].rec.ID
}
func (h schedHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *schedHeap) Push(x any) {
	e := x.(*entry)
	e.hidx = len(*h)
	*h = append(*h, e)
}
func (h *schedHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.hidx = -1
	return e
}

// addEntry makes rec an entry of the queue and schedules it.
func (q *Queue) addEntry(rec *record, dropped bool) {
	e := &entry{rec: rec, busy: map[string]bool{}, dropped: dropped, hidx: -1}
	q.entries[rec.ID] = e
	q.schedule(e, q.now())
}

// schedule puts e into the heap at its next due time, or takes it out
// when nothing is due for it until something running for it ends.
func (q *Queue) schedule(e *entry, now time.Time) {
	due, ok := q.nextDue(e, now)
	if !ok {
		q.unschedule(e)
		return
	}
	e.due = due
	if e.hidx >= 0 {
		heap.Fix(&q.sched, e.hidx)
		return
	}
	heap.Push(&q.sched, e)
}

// unschedule takes e out of the heap (parked marks stay until unparked).
func (q *Queue) unschedule(e *entry) {
	if e.hidx >= 0 {
		heap.Remove(&q.sched, e.hidx)
	}
}

// nextDue is when dispatch must next look at e: the same rules as
// dispatchEntry, without the domains that are busy or parked.
func (q *Queue) nextDue(e *entry, now time.Time) (time.Time, bool) {
	if e.gone || e.finishing {
		return time.Time{}, false
	}
	if e.dropped {
		return now, len(e.busy) == 0
	}
	if len(e.busy) == 0 && q.needsFinish(e, now) {
		return later(now, e.finishAfter), true
	}
	var due time.Time
	consider := func(t time.Time) {
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	if w := q.opts.DelayWarning; w > 0 && !e.rec.DelayWarned && e.rec.Created.Add(w).After(now) {
		consider(e.rec.Created.Add(w))
	}
	for _, rs := range e.rec.Recipients {
		if rs.Status != StatusPending {
			continue
		}
		d := envelope.Domain(rs.Address)
		if e.busy[d] || e.parked[d] {
			continue
		}
		consider(later(now, rs.NextAttempt))
	}
	return due, !due.IsZero()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// park makes e wait for a free delivery slot of domain d.
func (q *Queue) park(e *entry, d string) {
	if e.parked[d] {
		return
	}
	if e.parked == nil {
		e.parked = map[string]bool{}
	}
	e.parked[d] = true
	q.parked[d] = append(q.parked[d], e)
}

// unparkAll reschedules, for every domain with free delivery slots, as
// many of the entries waiting for it, oldest parked first.
func (q *Queue) unparkAll(now time.Time) {
	for d, list := range q.parked {
		room := q.opts.PerDomain - q.perDomain[d]
		for room > 0 && len(list) > 0 {
			e := list[0]
			list[0] = nil
			list = list[1:]
			delete(e.parked, d)
			if e.gone || e.finishing {
				continue
			}
			q.schedule(e, now)
			room--
		}
		if len(list) == 0 {
			delete(q.parked, d)
		} else {
			q.parked[d] = list
		}
	}
}

// roomForParked reports whether a domain with parked entries has a free
// delivery slot.
func (q *Queue) roomForParked() bool {
	for d, list := range q.parked {
		if len(list) > 0 && q.perDomain[d] < q.opts.PerDomain {
			return true
		}
	}
	return false
}
