package jmap

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"sort"
	"strings"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"pochta/internal/store"
)

// Threads (RFC 8621 §3) are computed, not stored: an Email's thread is
// named by the root of its conversation, the first Message-ID of its
// References field, else its In-Reply-To, else its own Message-ID
// (RFC 5322 §3.6.4 keeps the root first in References). Thread/get finds
// the thread's Emails through the store's header index. An Email without
// any of those fields is a thread of its own ("t" + its id's numbers).
// Replies whose clients dropped References are split off; subjects are not
// used.

const maxRootLen = 180 // base64 of a longer root would pass the id limit (RFC 8620 §1.2)

// threadOf returns the thread id of a message with header h.
func threadOf(h gomessage.Header, ref msgRef) string {
	root := threadRoot(h)
	if root == "" || len(root) > maxRootLen {
		return ref.threadID()
	}
	return "T" + base64.RawURLEncoding.EncodeToString([]byte(root))
}

func threadRoot(h gomessage.Header) string {
	for _, name := range []string{"References", "In-Reply-To", "Message-Id"} {
		if ids, ok := messageIDs(h, name).([]string); ok && len(ids) > 0 {
			return ids[0]
		}
	}
	return ""
}

// threadID reads a stored message's header for its thread id.
func (s *Server) threadID(ctx context.Context, ref msgRef) string {
	raw, err := s.raw(ctx, ref)
	if err != nil {
		return ref.threadID()
	}
	return threadOf(readHeader(raw), ref)
}

// readHeader parses only the header of raw.
func readHeader(raw []byte) gomessage.Header {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return gomessage.Header{}
	}
	return gomessage.Header{Header: h}
}

// maxThreadEmails bounds the Emails gathered for one thread.
const maxThreadEmails = 1000

// Thread/get (RFC 8621 §3.1).
func threadGet(c *call) (any, *methodError) {
	ids, all, me := c.getIDs()
	if me != nil {
		return nil, me
	}
	if all {
		return nil, errInvalidArgs("ids is required")
	}
	_, state, mbs, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return nil, errServerFail(err)
	}
	list, notFound := []any{}, []string{}
	for _, id := range ids {
		emails, err := c.threadEmails(id, mbs)
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

// threadEmails lists a thread's Emails, oldest first.
func (c *call) threadEmails(id string, mbs []store.Mailbox) ([]string, error) {
	if ref, _, ok := parseRef(id, 't'); ok {
		for _, mb := range mbs {
			if mb.ID == ref.Mailbox {
				if _, err := c.s.message(c.ctx, ref); err == nil {
					return []string{ref.emailID()}, nil
				}
			}
		}
		return nil, nil
	}
	if !strings.HasPrefix(id, "T") {
		return nil, nil
	}
	root, err := base64.RawURLEncoding.DecodeString(id[1:])
	if err != nil || len(root) == 0 {
		return nil, nil
	}
	type hit struct {
		ref  msgRef
		date int64
	}
	var hits []hit
	for _, mb := range mbs {
		cands := map[uint32]bool{}
		for _, field := range []string{"message-id", "references", "in-reply-to"} {
			uids, err := c.s.st.Search(c.ctx, mb.ID, store.SearchField("header:"+field), string(root))
			if err != nil {
				return nil, err
			}
			for _, u := range uids {
				cands[u] = true
			}
		}
		for u := range cands {
			if len(hits) >= maxThreadEmails {
				break
			}
			ref := msgRef{mb.ID, u}
			if c.s.threadID(c.ctx, ref) != id {
				continue // the root appears, but deeper in another thread
			}
			m, err := c.s.message(c.ctx, ref)
			if err != nil {
				continue
			}
			hits = append(hits, hit{ref, m.InternalDate.UnixNano()})
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].date != hits[j].date {
			return hits[i].date < hits[j].date
		}
		return hits[i].ref.emailID() < hits[j].ref.emailID()
	})
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ref.emailID()
	}
	return out, nil
}
