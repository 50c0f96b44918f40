package jmap

import (
	"context"
	"io"
	"strconv"
	"strings"

	"pochta/internal/store"
)

// msgRef names one message in one mailbox: an Email here. The store keeps
// a message per mailbox (IMAP's model), so an Email is one mailbox's copy;
// moving it gives it a new id.
type msgRef struct {
	Mailbox int64
	UID     uint32
}

func (r msgRef) emailID() string  { return "e" + r.suffix() }
func (r msgRef) blobID() string   { return "b" + r.suffix() }
func (r msgRef) threadID() string { return "t" + r.suffix() }
func (r msgRef) suffix() string {
	return strconv.FormatInt(r.Mailbox, 10) + "." + strconv.FormatUint(uint64(r.UID), 10)
}

// parseRef reads an Email, blob or thread id with the given prefix; a blob
// id may name a part after a second dot ("b12.7.2").
func parseRef(id string, prefix byte) (ref msgRef, part string, ok bool) {
	if len(id) < 4 || id[0] != prefix {
		return msgRef{}, "", false
	}
	fields := strings.SplitN(id[1:], ".", 3)
	if len(fields) < 2 || (len(fields) == 3 && prefix != 'b') {
		return msgRef{}, "", false
	}
	mb, err1 := strconv.ParseInt(fields[0], 10, 64)
	uid, err2 := strconv.ParseUint(fields[1], 10, 32)
	if err1 != nil || err2 != nil || mb <= 0 || uid == 0 {
		return msgRef{}, "", false
	}
	if len(fields) == 3 {
		part = fields[2]
	}
	return msgRef{mb, uint32(uid)}, part, true
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
