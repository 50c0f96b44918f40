package imapserver

import (
	"strconv"
	"strings"

	"pochta/internal/store"
)

// parseStatusItems reads "(" status-att *(SP status-att) ")".
func parseStatusItems(p *parser) ([]string, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	var items []string
	if err := p.listRest(func() error {
		it, err := p.keyword()
		if err != nil {
			return err
		}
		switch it {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ", "RECENT":
		default:
			return errSyntax("unknown STATUS item " + it)
		}
		if len(items) > 16 {
			return errSyntax("too many STATUS items")
		}
		items = append(items, it)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errSyntax("empty STATUS item list")
	}
	return items, nil
}

// cmdStatus: STATUS (RFC 9051 §6.3.11) with SIZE (RFC 8438) and
// HIGHESTMODSEQ (RFC 7162).
func (s *session) cmdStatus(tag string, p *parser, uid bool) (string, error) {
	name, err := s.mailboxArg(p)
	if err != nil {
		return "", err
	}
	if err := p.sp(); err != nil {
		return "", err
	}
	items, err := parseStatusItems(p)
	if err != nil {
		return "", err
	}
	if err := p.end(); err != nil {
		return "", err
	}
	mb, err := s.srv.opts.Store.GetMailbox(s.ctx, s.acct.ID, name)
	if err != nil {
		return "", s.storeError(err)
	}
	if err := s.statusResponse(mb, items); err != nil {
		return "", err
	}
	return "STATUS completed", nil
}

func (s *session) statusResponse(mb store.Mailbox, items []string) error {
	st, err := s.srv.opts.Store.Status(s.ctx, mb.ID)
	if err != nil {
		return err
	}
	var parts []string
	for _, it := range items {
		var v string
		switch it {
		case "MESSAGES":
			v = strconv.FormatUint(uint64(st.Messages), 10)
		case "UIDNEXT":
			v = strconv.FormatUint(uint64(st.UIDNext), 10)
		case "UIDVALIDITY":
			v = strconv.FormatUint(uint64(st.UIDValidity), 10)
		case "UNSEEN":
			v = strconv.FormatUint(uint64(st.Unseen), 10)
		case "DELETED":
			v = strconv.FormatUint(uint64(st.Deleted), 10)
		case "SIZE":
			v = strconv.FormatInt(st.Size, 10)
		case "HIGHESTMODSEQ":
			v = strconv.FormatUint(st.HighestModSeq, 10)
		case "RECENT":
			// Messages no session has claimed yet (RFC 3501 §6.3.10);
			// counting them does not claim them.
			v = strconv.FormatUint(uint64(st.Recent), 10)
		}
		parts = append(parts, it+" "+v)
	}
	s.w.untagged("STATUS " + quote(s.encodeName(mb.Name), s.utf8Names()) + " (" + strings.Join(parts, " ") + ")")
	return nil
}
