package imapserver

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"

	"pochta/internal/message"
	"pochta/internal/store"
)

// cmdAppend: APPEND (RFC 9051 §6.3.12) with APPENDUID (RFC 4315),
// APPENDLIMIT (RFC 7889) and quota (RFC 9208 [OVERQUOTA]).
func (s *session) cmdAppend(tag string, p *parser, uid bool) (string, error) {
	name, err := s.mailboxArg(p)
	if err != nil {
		return "", err
	}
	if err := p.sp(); err != nil {
		return "", err
	}
	var flags []string
	if p.peek() == '(' {
		if flags, err = p.flagList(); err != nil {
			return "", err
		}
		if err := p.sp(); err != nil {
			return "", err
		}
	}
	var date time.Time
	if p.peek() == '"' {
		ds, err := p.dateTime()
		if err != nil {
			return "", err
		}
		if date, err = parseDateTime(ds); err != nil {
			return "", err
		}
		if err := p.sp(); err != nil {
			return "", err
		}
	}
	utf8Wrap := false
	if p.peek() == 'U' || p.peek() == 'u' {
		// UTF8 (literal8) form of RFC 6855.
		kw, err := p.keyword()
		if err != nil || kw != "UTF8" {
			return "", errSyntax("expected a literal")
		}
		if err := p.sp(); err != nil {
			return "", err
		}
		if err := p.expect('('); err != nil {
			return "", err
		}
		utf8Wrap = true
	}
	if p.peek() != '{' && p.peek() != '~' {
		return "", errSyntax("expected a literal")
	}
	msg, err := p.literal()
	if err != nil {
		return "", err
	}
	if utf8Wrap {
		if err := p.expect(')'); err != nil {
			return "", err
		}
	}
	if err := p.end(); err != nil {
		return "", err
	}
	for _, f := range flags {
		if strings.EqualFold(f, `\Recent`) || f == `\*` {
			return "", bad("", "Cannot set that flag")
		}
	}
	if int64(len(msg)) > s.srv.opts.Limits.IMAPLiteralSize {
		return "", no("TOOBIG", "Message too large")
	}
	mb, err := s.srv.opts.Store.GetMailbox(s.ctx, s.acct.ID, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", no("TRYCREATE", "No such mailbox")
		}
		return "", s.storeError(err)
	}
	// Parts in the binary transfer encoding (RFC 3516 §4.4 allows them in
	// APPEND) are stored base64-encoded, so BODY[] never has to carry
	// octets an IMAP string cannot (RFC 9051 §4.3.1); BINARY[] decodes them.
	msg = message.EncodeBinaryParts(msg)
	m, err := s.srv.opts.Store.Append(s.ctx, mb.ID, canonicalFlags(flags), date, bytes.NewReader(msg))
	if err != nil {
		return "", s.storeError(err)
	}
	if s.sel != nil && s.sel.mbox.ID == mb.ID {
		s.sel.dirty = true
		s.announce(m.Flags) // new keywords are defined now (RFC 9051 §7.3.5)
	}
	return "[APPENDUID " + strconv.FormatUint(uint64(mb.UIDValidity), 10) + " " +
		strconv.FormatUint(uint64(m.UID), 10) + "] APPEND completed", nil
}

// parseDateTime parses date-time (RFC 9051 §9): "dd-Mon-yyyy hh:mm:ss
// +zzzz", the day possibly space-padded.
func parseDateTime(s string) (time.Time, error) {
	s = strings.TrimLeft(s, " ")
	for _, layout := range []string{"2-Jan-2006 15:04:05 -0700", "02-Jan-2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errSyntax("bad date-time")
}

// canonicalFlags spells system flags the standard way and drops
// duplicates.
func canonicalFlags(flags []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range flags {
		switch strings.ToLower(f) {
		case `\seen`:
			f = `\Seen`
		case `\answered`:
			f = `\Answered`
		case `\flagged`:
			f = `\Flagged`
		case `\deleted`:
			f = `\Deleted`
		case `\draft`:
			f = `\Draft`
		}
		k := strings.ToLower(f)
		if !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	return out
}
