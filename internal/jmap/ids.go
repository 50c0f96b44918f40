package jmap

import (
	"context"
	"io"
	"strconv"
	"strings"

	"pochta/internal/store"
)

// msgRef names one message in one mailbox: an Email here (the store
// keeps a message per mailbox, IMAP's model, so maxMailboxesPerEmail is
// 1). Its Email id and thread come from the store (store.Emails): the id
// is kept when the message moves (RFC 8621 §4.1.1: immutable), a copy is
// a new Email; the thread was given at delivery (RFC 8621 §3).
type msgRef struct {
	Mailbox int64
	UID     uint32
	Email   int64
	Thread  int64
}

func refOf(r store.EmailRef) msgRef { return msgRef{r.MailboxID, r.UID, r.EmailID, r.ThreadID} }

func msgRefOf(m store.Message) msgRef { return msgRef{m.MailboxID, m.UID, m.EmailID, m.ThreadID} }

func (r msgRef) emailID() string  { return "e" + strconv.FormatInt(r.Email, 10) }
func (r msgRef) blobID() string   { return "b" + strconv.FormatInt(r.Email, 10) }
func (r msgRef) threadID() string { return "t" + strconv.FormatInt(r.Thread, 10) }

// parseID reads an Email, blob or thread id with the given prefix; a blob
// id may name a part after an underscore ("b12_2": ids keep to the
// URL-safe base64 alphabet, RFC 8620 §1.2).
func parseID(id string, prefix byte) (n int64, part string, ok bool) {
	if len(id) < 2 || id[0] != prefix {
		return 0, "", false
	}
	num, part, hasPart := strings.Cut(id[1:], "_")
	if hasPart && (prefix != 'b' || part == "") {
		return 0, "", false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != num { // one spelling per id
		return 0, "", false
	}
	return n, part, true
}

// findEmails resolves Email ids (or "#creationIds") of the account to
// its messages in one store query; ids of no message are absent.
func (c *call) findEmails(ids []string) (map[string]msgRef, error) {
	var nums []int64
	for _, id := range ids {
		if n, _, ok := parseID(c.resolveCreated(id), 'e'); ok {
			nums = append(nums, n)
		}
	}
	found, err := c.s.st.FindEmails(c.ctx, c.acct.ID, nums)
	if err != nil {
		return nil, err
	}
	out := make(map[string]msgRef, len(found))
	for _, id := range ids {
		n, _, _ := parseID(c.resolveCreated(id), 'e')
		if r, ok := found[n]; ok {
			out[id] = refOf(r)
		}
	}
	return out, nil
}

// findEmail resolves one Email id; ok is false when there is none.
func (c *call) findEmail(id string) (msgRef, bool, error) {
	refs, err := c.findEmails([]string{id})
	r, ok := refs[id]
	return r, ok, err
}

// refsOf returns the refs of a mailbox's UIDs, in order; UIDs gone
// meanwhile are left out.
func (s *Server) refsOf(ctx context.Context, mb int64, uids []uint32) ([]msgRef, error) {
	found, err := s.st.EmailRefs(ctx, mb, uids)
	if err != nil {
		return nil, err
	}
	out := make([]msgRef, 0, len(uids))
	for _, u := range uids {
		if r, ok := found[u]; ok {
			out = append(out, refOf(r))
		}
	}
	return out, nil
}

// owned reports whether the mailbox belongs to the account.
func (s *Server) owned(ctx context.Context, acctID, mailbox int64) bool {
	mbs, err := s.st.ListMailboxes(ctx, acctID)
	if err != nil {
		return false
	}
	for _, mb := range mbs {
		if mb.ID == mailbox {
			return true
		}
	}
	return false
}

// message returns the metadata of one message, store.ErrNotFound when gone.
func (s *Server) message(ctx context.Context, r msgRef) (store.Message, error) {
	var m store.Message
	found := false
	err := s.st.Messages(ctx, r.Mailbox, store.UIDSet{{Start: r.UID, Stop: r.UID}}, func(msg store.Message) error {
		m, found = msg, true
		return nil
	})
	if err == nil && !found {
		err = store.ErrNotFound
	}
	return m, err
}

// raw reads a message's whole content.
func (s *Server) raw(ctx context.Context, r msgRef) ([]byte, error) {
	rc, err := s.st.Open(ctx, r.Mailbox, r.UID)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// keyword maps an IMAP flag to a JMAP keyword (RFC 8621 §4.1.1): the
// system flags become $seen, $flagged, $answered, $draft; \Deleted and
// \Recent have no keyword; keywords are case-insensitive, sent lower case.
func keyword(flag string) string {
	switch strings.ToLower(flag) {
	case `\seen`:
		return "$seen"
	case `\flagged`:
		return "$flagged"
	case `\answered`:
		return "$answered"
	case `\draft`:
		return "$draft"
	case `\deleted`, `\recent`:
		return ""
	}
	return strings.ToLower(flag)
}

// flag maps a JMAP keyword back to the IMAP flag.
func flag(kw string) string {
	switch strings.ToLower(kw) {
	case "$seen":
		return `\Seen`
	case "$flagged":
		return `\Flagged`
	case "$answered":
		return `\Answered`
	case "$draft":
		return `\Draft`
	}
	return kw
}

// validKeyword: RFC 8621 §4.1.1 keywords are 1-255 of %x21-%x7E except
// ( ) { ] % * " \.
func validKeyword(kw string) bool {
	if kw == "" || len(kw) > 255 {
		return false
	}
	for i := 0; i < len(kw); i++ {
		ch := kw[i]
		if ch < 0x21 || ch > 0x7e || strings.IndexByte(`(){]%*"\`, ch) >= 0 {
			return false
		}
	}
	return true
}

func keywords(flags []string) map[string]bool {
	out := map[string]bool{}
	for _, f := range flags {
		if k := keyword(f); k != "" {
			out[k] = true
		}
	}
	return out
}
