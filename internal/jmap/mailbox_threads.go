package jmap

import (
	"slices"

	"pochta/internal/store"
)

// threadCount is a Mailbox's totalThreads and unreadThreads.
type threadCount struct{ total, unread int }

// wantsThreadCounts reports whether a Mailbox/get asked for a thread
// count (props nil: every property). Counting reads every message of the
// account, so it is skipped when the client did not ask.
func wantsThreadCounts(props []string) bool {
	return props == nil || slices.Contains(props, "totalThreads") || slices.Contains(props, "unreadThreads")
}

// threadCounts counts the threads of every mailbox of mbs, by RFC 8621
// §2: totalThreads is the number of threads with at least one Email in
// the mailbox; unreadThreads the number of those with at least one
// unread Email (neither $seen nor $draft) anywhere in the account, not
// counting unread Emails in the Trash, except for the Trash itself.
func (c *call) threadCounts(mbs []store.Mailbox) (map[int64]threadCount, error) {
	type thread struct {
		in                  map[int64]bool // the mailboxes it has Emails in
		unread, unreadTrash bool
	}
	threads := map[int64]*thread{}
	for _, mb := range mbs {
		trash := role(mb) == "trash"
		err := c.s.st.Messages(c.ctx, mb.ID, nil, func(m store.Message) error {
			t := threads[m.ThreadID]
			if t == nil {
				t = &thread{in: map[int64]bool{}}
				threads[m.ThreadID] = t
			}
			t.in[mb.ID] = true
			if !m.HasFlag(`\Seen`) && !m.HasFlag(`\Draft`) {
				if trash {
					t.unreadTrash = true
				} else {
					t.unread = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	counts := make(map[int64]threadCount, len(mbs))
	for _, mb := range mbs {
		trash := role(mb) == "trash"
		var n threadCount
		for _, t := range threads {
			if !t.in[mb.ID] {
				continue
			}
			n.total++
			if t.unread || (trash && t.unreadTrash) {
				n.unread++
			}
		}
		counts[mb.ID] = n
	}
	return counts, nil
}
