package imapserver

import "pochta/internal/store"

// cmdExpunge: EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1).
func (s *session) cmdExpunge(tag string, p *parser, uid bool) (string, error) {
	var set store.UIDSet
	if uid {
		if err := p.sp(); err != nil {
			return "", err
		}
		ss, err := p.seqSet()
		if err != nil {
			return "", err
		}
		var ok bool
		if set, ok = s.sel.uidSet(ss, true); !ok {
			return "", p.end()
		}
	}
	if err := p.end(); err != nil {
		return "", err
	}
	if s.sel.readOnly {
		return "", no("READ-ONLY", "Mailbox is read-only")
	}
	if set == nil {
		// Only messages the client knows about.
		set = store.UIDSet{{Start: 1, Stop: max(s.sel.maxUID(), 1)}}
		if s.sel.maxUID() == 0 {
			return "EXPUNGE completed", nil
		}
	}
	gone, err := s.srv.opts.Store.Expunge(s.ctx, s.sel.mbox.ID, set)
	if err != nil {
		return "", err
	}
	s.expunged(sortedUnique(gone))
	s.sel.dirty = true
	return "EXPUNGE completed", nil
}
