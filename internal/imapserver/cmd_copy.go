package imapserver

import (
	"errors"
	"sort"
	"strconv"

	"pochta/internal/store"
)

// destArg reads the destination mailbox of COPY/MOVE; a missing one is
// NO [TRYCREATE] (RFC 9051 §6.4.7).
func (s *session) destArg(p *parser) (store.Mailbox, error) {
	name, err := s.mailboxArg(p)
	if err != nil {
		return store.Mailbox{}, err
	}
	if err := p.end(); err != nil {
		return store.Mailbox{}, err
	}
	mb, err := s.srv.opts.Store.GetMailbox(s.ctx, s.acct.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return mb, no("TRYCREATE", "No such mailbox")
	}
	if err != nil {
		return mb, s.storeError(err)
	}
	return mb, nil
}

// copyUID renders the COPYUID response code (RFC 4315 §3); source and
// destination UIDs correspond in order.
func copyUID(dst store.Mailbox, pairs []store.UIDPair) string {
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].Src < pairs[j].Src })
	src := make([]uint32, len(pairs))
	dsts := make([]uint32, len(pairs))
	for i, pr := range pairs {
		src[i], dsts[i] = pr.Src, pr.Dst
	}
	return "COPYUID " + strconv.FormatUint(uint64(dst.UIDValidity), 10) + " " + formatUIDs(src) + " " + formatUIDs(dsts)
}

// cmdCopy: COPY and UID COPY (RFC 9051 §6.4.7) with COPYUID.
func (s *session) cmdCopy(tag string, p *parser, uid bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	set, err := p.seqSet()
	if err != nil {
		return "", err
	}
	dst, err := s.destArg(p)
	if err != nil {
		return "", err
	}
	uset, ok := s.sel.uidSet(set, uid)
	if !ok {
		return "COPY completed", nil
	}
	var prior map[uint32][]string
	if _, ok := copyClass(s.sel.mbox, dst, false); ok {
		prior = s.priorFlags(s.sel.mbox.ID, uset)
	}
	pairs, err := s.srv.opts.Store.Copy(s.ctx, s.sel.mbox.ID, uset, dst.ID)
	if err != nil {
		return "", s.storeError(err)
	}
	s.trainCopied(s.sel.mbox, dst, pairs, prior, false)
	if dst.ID == s.sel.mbox.ID {
		s.sel.dirty = true
	}
	if len(pairs) == 0 {
		return "COPY completed", nil
	}
	return "[" + copyUID(dst, pairs) + "] COPY completed", nil
}
