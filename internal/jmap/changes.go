package jmap

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	"pochta/internal/store"
)

// State strings. The store keeps no per-account change log, but every
// mailbox has what IMAP's QRESYNC needs (RFC 7162): a HIGHESTMODSEQ, a
// UIDNEXT and the UIDs expunged after a modseq. So a state names, for each
// mailbox, those numbers: "id.uidvalidity.modseq.uidnext" joined by ","
// (and a hash of name, role and subscription for the Mailbox state).
// /changes compares the two lists and asks the store what changed in each
// mailbox since the old modseq: exact, never missing or repeating an
// update. The states grow with the number of mailboxes, not of messages.

// states computes the account's Mailbox and Email states.
func (s *Server) states(ctx context.Context, acctID int64) (mailbox, email string, mbs []store.Mailbox, err error) {
	mbs, err = s.st.ListMailboxes(ctx, acctID)
	if err != nil {
		return "", "", nil, err
	}
	sort.Slice(mbs, func(i, j int) bool { return mbs[i].ID < mbs[j].ID })
	var m, e []string
	for _, mb := range mbs {
		nums := b36(uint64(mb.ID), uint64(mb.UIDValidity), mb.HighestModSeq, uint64(mb.UIDNext))
		e = append(e, nums)
		m = append(m, nums+"."+b36(nameHash(mb)))
	}
	return "M" + strings.Join(m, ","), "E" + strings.Join(e, ","), mbs, nil
}

func b36(v ...uint64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatUint(x, 36)
	}
	return strings.Join(parts, ".")
}

// nameHash changes when what Mailbox/get shows of a mailbox, beyond its
// counts, changes.
func nameHash(mb store.Mailbox) uint64 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s\x00%s\x00%t", mb.Name, mb.SpecialUse, mb.Subscribed)
	return uint64(h.Sum32())
}

// mailboxState is one mailbox's entry of a state string.
type mailboxState struct {
	uidValidity, modSeq, uidNext, name uint64
}

// parseState reads a state string with the given prefix; ok is false for
// anything we did not make.
func parseState(s string, prefix byte, fields int) (map[int64]mailboxState, bool) {
	if len(s) == 0 || s[0] != prefix {
		return nil, false
	}
	out := map[int64]mailboxState{}
	if len(s) == 1 {
		return out, true
	}
	for _, entry := range strings.Split(s[1:], ",") {
		f := strings.Split(entry, ".")
		if len(f) != fields {
			return nil, false
		}
		var n [5]uint64
		for i, x := range f {
			v, err := strconv.ParseUint(x, 36, 64)
			if err != nil {
				return nil, false
			}
			n[i] = v
		}
		out[int64(n[0])] = mailboxState{n[1], n[2], n[3], n[4]}
	}
	return out, true
}

// changesArgs reads sinceState and maxChanges (RFC 8620 §5.2).
func (c *call) changesArgs() (since string, maxChanges int, me *methodError) {
	if me := c.arg("sinceState", &since); me != nil {
		return "", 0, me
	}
	if since == "" {
		return "", 0, errInvalidArgs("sinceState is required")
	}
	if me := c.arg("maxChanges", &maxChanges); me != nil {
		return "", 0, me
	}
	if maxChanges < 0 {
		return "", 0, errInvalidArgs("maxChanges must be positive")
	}
	return since, maxChanges, nil
}

var errCannotCalculate = &methodError{Type: "cannotCalculateChanges", Description: "the state is too old or unknown; fetch again"}

func changesResult(c *call, since, now string, created, updated, destroyed []string, maxChanges int) (map[string]any, *methodError) {
	if maxChanges > 0 && len(created)+len(updated)+len(destroyed) > maxChanges {
		// The changes cannot be cut at an intermediate state.
		return nil, errCannotCalculate
	}
	for _, l := range []*[]string{&created, &updated, &destroyed} {
		if *l == nil {
			*l = []string{}
		}
	}
	return map[string]any{"accountId": c.acct.id, "oldState": since, "newState": now, "hasMoreChanges": false,
		"created": created, "updated": updated, "destroyed": destroyed}, nil
}

// Mailbox/changes (RFC 8621 §2.2).
func mailboxChanges(c *call) (any, *methodError) {
	since, maxChanges, me := c.changesArgs()
	if me != nil {
		return nil, me
	}
	now, _, mbs, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return nil, errServerFail(err)
	}
	old, ok := parseState(since, 'M', 5)
	if !ok {
		return nil, errCannotCalculate
	}
	var created, updated, destroyed []string
	onlyCounts := true
	for _, mb := range mbs {
		o, had := old[mb.ID]
		switch {
		case !had:
			created = append(created, mailboxID(mb.ID))
		case o.name != nameHash(mb):
			onlyCounts = false
			updated = append(updated, mailboxID(mb.ID))
		case o.modSeq != mb.HighestModSeq || o.uidNext != uint64(mb.UIDNext) || o.uidValidity != uint64(mb.UIDValidity):
			updated = append(updated, mailboxID(mb.ID))
		}
		delete(old, mb.ID)
	}
	for id := range old {
		destroyed = append(destroyed, mailboxID(id))
	}
	res, me := changesResult(c, since, now, created, updated, destroyed, maxChanges)
	if me != nil {
		return nil, me
	}
	res["updatedProperties"] = nil
	if onlyCounts && len(updated) > 0 {
		res["updatedProperties"] = []string{"totalEmails", "unreadEmails", "totalThreads", "unreadThreads"}
	}
	return res, nil
}

// Email/changes (RFC 8621 §4.3).
func emailChanges(c *call) (any, *methodError) {
	ch, me := c.emailChangeRefs()
	if me != nil {
		return nil, me
	}
	return changesResult(c, ch.since, ch.now, emailIDs(ch.created), emailIDs(ch.updated), emailIDs(ch.destroyed), ch.maxChanges)
}

// emailChangeList is what changed since an Email state.
type emailChangeList struct {
	since, now                  string
	maxChanges                  int
	created, updated, destroyed []msgRef
}

func emailIDs(refs []msgRef) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.emailID()
	}
	return out
}

// emailChangeRefs reads the /changes arguments and lists the Emails
// changed since sinceState: per mailbox, the store's changes since the old
// modseq; a message above the old UIDNEXT is created, below it updated; an
// expunged UID below it is destroyed; an Email that left one mailbox for
// another was updated.
func (c *call) emailChangeRefs() (emailChangeList, *methodError) {
	since, maxChanges, me := c.changesArgs()
	if me != nil {
		return emailChangeList{}, me
	}
	now, created, updated, destroyed, me := c.emailChangesSince(since)
	return emailChangeList{since, now, maxChanges, created, updated, destroyed}, me
}

func (c *call) emailChangesSince(since string) (now string, created, updated, destroyed []msgRef, me *methodError) {
	_, now, mbs, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return "", nil, nil, nil, errServerFail(err)
	}
	old, ok := parseState(since, 'E', 4)
	if !ok {
		return "", nil, nil, nil, errCannotCalculate
	}
	for _, mb := range mbs {
		o, had := old[mb.ID]
		delete(old, mb.ID)
		if had && o.uidValidity != uint64(mb.UIDValidity) {
			return "", nil, nil, nil, errCannotCalculate
		}
		if had && o.modSeq == mb.HighestModSeq && o.uidNext == uint64(mb.UIDNext) {
			continue
		}
		if !had {
			o = mailboxState{uidNext: 1} // a new mailbox: everything in it is new
		}
		changed, vanished, err := c.s.st.Changes(c.ctx, mb.ID, o.modSeq)
		if err != nil {
			return "", nil, nil, nil, errServerFail(err)
		}
		for _, m := range changed {
			if uint64(m.UID) >= o.uidNext {
				created = append(created, msgRefOf(m))
			} else {
				updated = append(updated, msgRefOf(m))
			}
		}
		var gone []uint32
		for _, u := range vanished {
			if uint64(u) < o.uidNext {
				gone = append(gone, u)
			}
		}
		refs, err := c.s.refsOf(c.ctx, mb.ID, gone)
		if err != nil {
			return "", nil, nil, nil, errServerFail(err)
		}
		destroyed = append(destroyed, refs...)
	}
	for _, o := range old {
		if o.uidNext > 1 {
			// A mailbox that had mail is gone: its Emails cannot be listed.
			return "", nil, nil, nil, errCannotCalculate
		}
	}
	created, updated, destroyed = moved(created, updated, destroyed)
	return now, created, updated, destroyed, nil
}

// Email/queryChanges (RFC 8620 §5.6): query results are not tracked, so
// the client always re-runs the query.
func queryChanges(c *call) (any, *methodError) {
	var since string
	if me := c.arg("sinceQueryState", &since); me != nil {
		return nil, me
	}
	if since == "" {
		return nil, errInvalidArgs("sinceQueryState is required")
	}
	return nil, errCannotCalculate
}

// moved reconciles the per-mailbox changes of Emails: an Email that left
// one mailbox and came into another (a move keeps its id, RFC 8621
// §4.1.1) was updated, not destroyed and created; one listed twice is
// listed once.
func moved(created, updated, destroyed []msgRef) (c, u, d []msgRef) {
	in := func(l []msgRef) map[int64]bool {
		m := make(map[int64]bool, len(l))
		for _, r := range l {
			m[r.Email] = true
		}
		return m
	}
	isCreated, isDestroyed := in(created), in(destroyed)
	seen := map[int64]bool{}
	add := func(l *[]msgRef, r msgRef) {
		if !seen[r.Email] {
			seen[r.Email] = true
			*l = append(*l, r)
		}
	}
	for _, r := range created {
		if isDestroyed[r.Email] {
			add(&u, r)
		} else {
			add(&c, r)
		}
	}
	for _, r := range updated {
		if !isCreated[r.Email] {
			add(&u, r)
		}
	}
	for _, r := range destroyed {
		if !isCreated[r.Email] {
			add(&d, r)
		}
	}
	return c, u, d
}
