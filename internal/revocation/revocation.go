// Package revocation ends the open sessions of an account whose access
// was taken away — disabled, its password changed or reset, removed — on
// every node that shares the store. internal/manage (from the command
// line, the web admin or the webmail's settings) records an event in the
// store's log (store.AccountEvents); the Watcher of each serving node
// reads the log every Interval and calls the end function of every
// session of that account that a protocol server registered with Watch:
// IMAP says BYE (RFC 9051 §7.1.5) and closes, POP3 and ManageSieve
// close, JMAP ends its event stream. The log, not an in-process call, is
// what makes `pochta user disable` in another process, or an admin
// page on another node, reach this one.
package revocation

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"pochta/internal/store"
)

// Log is the store's log of account events (store.AccountEvents).
type Log interface {
	AccountEventsAfter(ctx context.Context, seq int64) (accounts []int64, last int64, err error)
}

// Watcher calls the end functions of the sessions of accounts that appear
// in the Log. Build it with New; the zero value is not usable.
type Watcher struct {
	log      Log
	interval time.Duration
	logger   *slog.Logger

	// seq is the last event read (Skip, then Run's goroutine).
	seq int64

	mu   sync.Mutex
	subs map[int64]map[*sub]struct{}
}

// sub is one session's registration.
type sub struct{ end func() }

// New returns a Watcher reading log every interval (Run); logger may be
// nil.
func New(log Log, interval time.Duration, logger *slog.Logger) *Watcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{log: log, interval: interval, logger: logger, subs: map[int64]map[*sub]struct{}{}}
}

// Watch registers a session of accountID: end is called once if an event
// of the account is read before cancel. end runs in the Watcher's
// goroutine, so it must not block (wake the session and return).
func (w *Watcher) Watch(accountID int64, end func()) (cancel func()) {
	s := &sub{end: end}
	w.mu.Lock()
	set := w.subs[accountID]
	if set == nil {
		set = map[*sub]struct{}{}
		w.subs[accountID] = set
	}
	set[s] = struct{}{}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if set := w.subs[accountID]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(w.subs, accountID)
			}
		}
	}
}

// End calls the end functions of accountID's sessions (once each: they
// are unregistered) and returns how many there were.
func (w *Watcher) End(accountID int64) int {
	w.mu.Lock()
	set := w.subs[accountID]
	delete(w.subs, accountID)
	w.mu.Unlock()
	for s := range set {
		s.end()
	}
	return len(set)
}

// Skip moves past the events already in the log, which concern no
// session of this process: call it before the sessions start, and before
// Run (which otherwise begins at the oldest event kept).
func (w *Watcher) Skip(ctx context.Context) error {
	for {
		accounts, last, err := w.log.AccountEventsAfter(ctx, w.seq)
		if err != nil {
			return err
		}
		w.seq = last
		if len(accounts) == 0 {
			return nil
		}
	}
}

// Run reads the log every interval until ctx ends and ends the sessions
// of the accounts of new events. A store that cannot be read is logged
// once and retried.
func (w *Watcher) Run(ctx context.Context) {
	failing := false
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		accounts, last, err := w.log.AccountEventsAfter(ctx, w.seq)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				w.logger.Warn("reading the account events failed; retrying", "err", err)
			}
			failing = true
		case err == nil:
			if failing {
				w.logger.Info("reading the account events works again")
			}
			failing = false
			w.seq = last
			for _, a := range accounts {
				if n := w.End(a); n > 0 {
					w.logger.Info("ended the sessions of an account whose access was revoked", "account_id", a, "sessions", n)
				}
			}
		}
		if err == nil && len(accounts) == store.MaxAccountEvents {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
