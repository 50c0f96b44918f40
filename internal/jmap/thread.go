package jmap

import (
	"sort"
)

// Threads (RFC 8621 §3) are stored: the store puts every new message into
// a thread of its account when it stores it (by Message-ID, References or
// In-Reply-To and the base subject, store.Emails), and a thread's id,
// "t" + the Email id of its first message, never changes. IMAP's THREAD
// REFERENCES (RFC 5256) groups a mailbox's messages the same way in the
// common cases; a thread here never merges with another later.

// maxThreadEmails bounds the Emails listed for one thread.
const maxThreadEmails = 1000

// Thread/get (RFC 8621 §3.1): a thread's Emails, oldest first.
func threadGet(c *call) (any, *methodError) {
	ids, all, me := c.getIDs()
	if me != nil {
		return nil, me
	}
	if all {
		return nil, errInvalidArgs("ids is required")
	}
	_, state, _, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return nil, errServerFail(err)
	}
	list, notFound := []any{}, []string{}
	for _, id := range ids {
		emails, err := c.threadEmails(id)
		if err != nil {
			return nil, errServerFail(err)
		}
		if len(emails) == 0 {
			notFound = append(notFound, id)
			continue
		}
		list = append(list, map[string]any{"id": id, "emailIds": emails})
	}
	return map[string]any{"accountId": c.acct.id, "state": state, "list": list, "notFound": notFound}, nil
}

// threadEmails lists a thread's Email ids by received date.
func (c *call) threadEmails(id string) ([]string, error) {
	n, _, ok := parseID(id, 't')
	if !ok {
		return nil, nil
	}
	refs, err := c.s.st.ThreadEmails(c.ctx, c.acct.ID, n, maxThreadEmails)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = refOf(r).emailID()
	}
	return out, nil
}

// Thread/changes (RFC 8621 §3.2): the threads of the Emails changed since
// the state (Thread states are Email states). A thread is created when
// its first Email was (a thread's id is its first Email's), destroyed
// when it has no Email left, else updated.
func threadChanges(c *call) (any, *methodError) {
	ch, me := c.emailChangeRefs()
	if me != nil {
		return nil, me
	}
	isNew := map[int64]bool{}
	for _, r := range ch.created {
		isNew[r.Email] = true
	}
	threads := map[int64]bool{}
	for _, l := range [][]msgRef{ch.created, ch.updated, ch.destroyed} {
		for _, r := range l {
			threads[r.Thread] = true
		}
	}
	order := make([]int64, 0, len(threads))
	for t := range threads {
		order = append(order, t)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	var tc, tu, td []string
	for _, t := range order {
		left, err := c.s.st.ThreadEmails(c.ctx, c.acct.ID, t, 1)
		if err != nil {
			return nil, errServerFail(err)
		}
		id := msgRef{Thread: t}.threadID()
		switch {
		case len(left) == 0 && isNew[t]:
			// Made and gone since the state: nothing to tell.
		case len(left) == 0:
			td = append(td, id)
		case isNew[t]:
			tc = append(tc, id)
		default:
			tu = append(tu, id)
		}
	}
	return changesResult(c, ch.since, ch.now, tc, tu, td, ch.maxChanges)
}
