package imapserver

import (
	"errors"
	"math"
	"sort"
	"strconv"

	"pochta/internal/store"
)

// qresyncParams are SELECT's QRESYNC parameters (RFC 7162 §3.2.5).
type qresyncParams struct {
	uidValidity uint32
	modseq      uint64
	knownUIDs   *seqSet
}

// cmdSelect: SELECT (RFC 9051 §6.3.2).
func (s *session) cmdSelect(tag string, p *parser, uid bool) (string, error) {
	return s.selectCmd(p, false)
}

func (s *session) selectCmd(p *parser, readOnly bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	raw, err := p.astring()
	if err != nil {
		return "", err
	}
	var qr *qresyncParams
	if p.accept(' ') {
		if err := p.expect('('); err != nil {
			return "", err
		}
		if err := p.listRest(func() error {
			param, err := p.keyword()
			if err != nil {
				return err
			}
			switch param {
			case "CONDSTORE":
				s.condstore = true
			case "QRESYNC":
				if !s.qresync {
					return bad("", "QRESYNC is not enabled")
				}
				if qr, err = parseQresync(p); err != nil {
					return err
				}
			default:
				return bad("", "Unknown SELECT parameter")
			}
			return nil
		}); err != nil {
			return "", err
		}
	}
	if err := p.end(); err != nil {
		return "", err
	}
	// A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
	if s.sel != nil {
		s.sel = nil
		s.state = stateAuth
		// RFC 7162 §3.2.11, RFC 9051 §7.1: tells where old responses end.
		s.w.untagged("OK [CLOSED] Previous mailbox closed")
	}
	name, ok := s.decodeName(raw)
	if !ok {
		return "", no("CANNOT", "Invalid mailbox name")
	}
	mb, err := s.srv.opts.Store.GetMailbox(s.ctx, s.acct.ID, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", no("NONEXISTENT", "No such mailbox")
		}
		return "", err
	}
	uids, err := s.srv.uidCache.uids(s.ctx, s.srv.opts.Store, mb)
	if err != nil {
		return "", err
	}
	sel := newSelected(mb, readOnly, uids)
	uidNext := mb.UIDNext
	if n := len(uids); n > 0 && uids[n-1] >= uidNext {
		uidNext = uids[n-1] + 1
	}
	// \Recent (RFC 3501 §2.3.2), IMAP4rev1 only. The claim comes after
	// the UID list is read, so a message arriving in between is claimed
	// here and reported as recent once the session learns of it. EXAMINE
	// claims nothing but shows the messages still unclaimed as recent,
	// as STATUS RECENT counts them.
	if !s.rev2 {
		if readOnly {
			sel.addRecent(mb.RecentWatermark+1, max(uidNext, mb.RecentWatermark+1))
		} else {
			first, next, err := s.srv.opts.Store.ClaimRecent(s.ctx, mb.ID)
			if err != nil {
				return "", err
			}
			sel.addRecent(first, next)
		}
	}
	s.writeFlags(sel)
	s.w.untagged(strconv.Itoa(len(uids)) + " EXISTS")
	if !s.rev2 {
		s.w.untagged(strconv.Itoa(sel.recentCount()) + " RECENT")
		// RFC 3501 §6.3.1: IMAP4rev1 clients learn the first unseen
		// message from OK [UNSEEN n]; IMAP4rev2 dropped it (RFC 9051
		// Appendix E).
		seq, err := s.firstUnseen(sel)
		if err != nil {
			return "", err
		}
		if seq > 0 {
			s.w.untagged("OK [UNSEEN " + strconv.FormatUint(uint64(seq), 10) + "] First unseen")
		}
	}
	s.w.untagged("OK [UIDVALIDITY " + strconv.FormatUint(uint64(mb.UIDValidity), 10) + "] UIDs valid")
	s.w.untagged("OK [UIDNEXT " + strconv.FormatUint(uint64(uidNext), 10) + "] Predicted next UID")
	s.w.untagged("OK [HIGHESTMODSEQ " + strconv.FormatUint(mb.HighestModSeq, 10) + "] Highest")
	if s.rev2 {
		s.w.untagged("LIST (" + s.specialAttr(mb) + `) "/" ` + quote(s.encodeName(mb.Name), true))
	}
	s.sel = sel
	s.state = stateSelected
	if qr != nil && qr.uidValidity == mb.UIDValidity {
		if err := s.qresyncSelect(qr); err != nil {
			return "", err
		}
	}
	if readOnly {
		return "[READ-ONLY] EXAMINE completed", nil
	}
	return "[READ-WRITE] SELECT completed", nil
}

// firstUnseen returns the sequence number of the first message of sel
// without \Seen, 0 when every message is seen. A message the session has
// not learnt of yet does not count.
func (s *session) firstUnseen(sel *selected) (uint32, error) {
	uid, err := s.srv.opts.Store.FirstUnseen(s.ctx, sel.mbox.ID)
	if err != nil || uid == 0 {
		return 0, err
	}
	seq, _ := sel.seqOf(uid)
	return seq, nil
}

func (s *session) specialAttr(mb store.Mailbox) string {
	return mb.SpecialUse
}

// parseQresync reads "(" uidvalidity SP modseq [SP known-uids]
// [SP seq-match-data] ")".
func parseQresync(p *parser) (*qresyncParams, error) {
	if err := p.sp(); err != nil {
		return nil, err
	}
	if err := p.expect('('); err != nil {
		return nil, err
	}
	var q qresyncParams
	var err error
	if q.uidValidity, err = p.number(); err != nil {
		return nil, err
	}
	if err := p.sp(); err != nil {
		return nil, err
	}
	if q.modseq, err = p.number64(); err != nil {
		return nil, err
	}
	if p.accept(' ') && p.peek() != '(' {
		set, err := p.seqSet()
		if err != nil {
			return nil, err
		}
		q.knownUIDs = &set
		p.accept(' ')
	}
	if p.peek() == '(' {
		// seq-match-data: only an optimisation hint; read and ignore it.
		if err := p.skipValue(0); err != nil {
			return nil, err
		}
	}
	return &q, p.expect(')')
}

// qresyncSelect sends what changed since the client's mod-sequence: one
// VANISHED (EARLIER) and a FETCH per changed message (RFC 7162 §3.2.5.1).
func (s *session) qresyncSelect(q *qresyncParams) error {
	sel := s.sel
	changed, vanished, err := s.srv.opts.Store.Changes(s.ctx, sel.mbox.ID, q.modseq)
	if err != nil {
		return err
	}
	var gone []uint32
	var known []seqRange // resolved once: a binary search per UID
	if q.knownUIDs != nil {
		known = q.knownUIDs.resolve(sel.maxUID(), math.MaxUint32)
	}
	for _, u := range vanished {
		if q.knownUIDs == nil || inRanges(known, u) {
			if _, known := sel.seqOf(u); !known {
				gone = append(gone, u)
			}
		}
	}
	if len(gone) > 0 {
		s.w.untagged("VANISHED (EARLIER) " + formatUIDs(sortedUnique(gone)))
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].UID < changed[j].UID })
	for _, m := range changed {
		if seq, ok := sel.seqOf(m.UID); ok {
			s.flagsFetch(seq, m)
		}
	}
	return nil
}
