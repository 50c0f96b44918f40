package imapserver

import (
	"slices"
	"time"

	"pochta/internal/store"
)

// maxChanged bounds the mailboxes a session remembers as changed between
// two looks; past it, any mailbox counts as changed.
const maxChanged = 16

// watchFunc subscribes fn to the account's changes: without a channel or
// a goroutine when the store offers store.WatchFuncer (both backends do),
// else through Watch's channel and one goroutine reading it.
func watchFunc(st store.Mailstore, accountID int64, fn func(store.Change)) (cancel func()) {
	if wf, ok := st.(store.WatchFuncer); ok {
		return wf.WatchFunc(accountID, fn)
	}
	ch, cancel := st.Watch(accountID)
	go func() {
		for c := range ch {
			fn(c)
		}
	}()
	return cancel
}

// storeChanged records a change reported by the store; it runs in the
// store's committing goroutine and must not block. A session in IDLE on
// the changed mailbox is woken (wakeLocked); any other learns of the
// change at its next command (sendUpdates, takeChanged).
func (s *session) storeChanged(c store.Change) {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	if !s.changedAll && !slices.Contains(s.changed, c.MailboxID) {
		if len(s.changed) == maxChanged {
			s.changedAll = true
		} else {
			s.changed = append(s.changed, c.MailboxID)
		}
	}
	if s.idleMbox != 0 && c.MailboxID == s.idleMbox {
		s.wakeLocked()
	}
}

// wakeLocked wakes the session waiting in IDLE: through idleWake with
// compression (a reader goroutine holds the inflater, whose errors are
// final), else by making its read return at once with a timeout, which
// the session tells from a real one by looking at what changed.
func (s *session) wakeLocked() {
	if s.idleWake != nil {
		select {
		case s.idleWake <- struct{}{}:
		default:
		}
		return
	}
	s.raw.SetReadDeadline(time.Now())
}

// takeChanged reports whether mailbox changed since the last call, and
// forgets every recorded change.
func (s *session) takeChanged(mailbox int64) bool {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	hit := s.changedAll || slices.Contains(s.changed, mailbox)
	s.changed, s.changedAll = s.changed[:0], false
	return hit
}

// setIdleMbox marks the session as waiting in IDLE on mailbox (0: no
// longer waiting) and reports whether that mailbox changed meanwhile.
// Clearing it under wakeMu orders it after any wake already under way, so
// a read deadline the session sets afterwards is never undone by one.
func (s *session) setIdleMbox(mailbox int64, wake chan struct{}) bool {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	s.idleMbox, s.idleWake = mailbox, wake
	return mailbox != 0 && (s.changedAll || slices.Contains(s.changed, mailbox))
}
