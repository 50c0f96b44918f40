package jmap

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"pochta/internal/store"
)

// maxPing bounds the ping interval a client may ask for.
const maxPing = 300

// serveEvents is the event source push channel (RFC 8620 §7.3): a
// text/event-stream of StateChange objects, sent when the store reports a
// commit to the account (store.Watch) and the states really changed.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request, acct *account) {
	q := r.URL.Query()
	types := strings.Split(q.Get("types"), ",")
	closeAfter := q.Get("closeafter") == "state"
	ping, _ := strconv.Atoi(q.Get("ping"))
	if ping < 0 || ping > maxPing {
		ping = maxPing
	}
	want := func(t string) bool { return contains(types, "*") || contains(types, t) }
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	extendDeadlines(w)
	changes, cancel := s.st.Watch(acct.ID)
	defer cancel()
	revoked := s.watchRevocation(acct.ID)
	defer revoked.cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	last := map[string]string{}
	current := func() (map[string]string, bool) {
		mbState, emState, mbs, err := s.states(r.Context(), acct.ID)
		if err != nil {
			return nil, false
		}
		now := map[string]string{"Mailbox": mbState, "Email": emState, "Thread": emState, "EmailDelivery": deliveryState(mbs)}
		for k := range now {
			if !want(k) {
				delete(now, k)
			}
		}
		return now, true
	}
	send := func() bool {
		now, ok := current()
		if !ok {
			return false
		}
		diff := map[string]string{}
		for k, v := range now {
			if last[k] != v {
				diff[k] = v
			}
		}
		last = now
		if len(diff) == 0 {
			return true
		}
		b, _ := json.Marshal(map[string]any{"@type": "StateChange", "changed": map[string]any{acct.id: diff}})
		fmt.Fprintf(w, "event: state\ndata: %s\n\n", b)
		flusher.Flush()
		return !closeAfter
	}
	if closeAfter {
		// The client knows the current state; the first change ends the
		// response (closeafter=state).
		if last, ok = current(); !ok {
			return
		}
		flusher.Flush()
	} else if !send() {
		return
	}
	var tick <-chan time.Time
	if ping > 0 {
		t := time.NewTicker(time.Duration(ping) * time.Second)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-revoked.ch:
			// The account was disabled or its password changed: the
			// stream ends, and the client's reconnection is refused.
			return
		case <-changes:
			if !send() {
				return
			}
		case <-tick:
			fmt.Fprintf(w, "event: ping\ndata: {\"interval\":%d}\n\n", ping)
			flusher.Flush()
		}
	}
}

// Revoker tells the event source that its account's access was revoked
// (disabled, password changed, removed): *revocation.Watcher.
type Revoker interface {
	// Watch calls end once if the account's access is revoked before
	// cancel; end must not block.
	Watch(accountID int64, end func()) (cancel func())
}

// revocation is an event stream's registration with the Revoker: ch is
// closed when the account's access is revoked (never without a Revoker).
type revocation struct {
	ch     chan struct{}
	cancel func()
}

func (s *Server) watchRevocation(accountID int64) revocation {
	r := revocation{ch: make(chan struct{}), cancel: func() {}}
	if s.opts.Revoker != nil {
		r.cancel = s.opts.Revoker.Watch(accountID, func() { close(r.ch) })
	}
	return r
}

// deliveryState is the EmailDelivery push state (RFC 8621 §1.5): it
// changes when new mail arrives where the user will want to see it, i.e.
// a message is added to a mailbox other than Drafts, Sent, Junk and Trash
// (delivery, or a move or copy there), not when a draft is saved or a
// flag changes: the sum of those mailboxes' UIDNEXT, and their
// UIDVALIDITY.
func deliveryState(mbs []store.Mailbox) string {
	var next, validity uint64
	for _, mb := range mbs {
		switch mb.SpecialUse {
		case `\Drafts`, `\Sent`, `\Junk`, `\Trash`:
			continue
		}
		next += uint64(mb.UIDNext)
		validity = validity*31 + uint64(mb.UIDValidity)
	}
	return "D" + b36(next, validity)
}
