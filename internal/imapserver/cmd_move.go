package imapserver

// cmdMove: MOVE and UID MOVE (RFC 6851, RFC 9051 §6.4.8): COPYUID in an
// untagged OK, then EXPUNGE (or VANISHED) for the moved messages. RFC 6851
// does not forbid the selected mailbox as destination: the messages get
// new UIDs there and the old ones are expunged, as Dovecot does.
func (s *session) cmdMove(tag string, p *parser, uid bool) (string, error) {
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
	if s.sel.readOnly {
		return "", no("READ-ONLY", "Mailbox is read-only")
	}
	uset, ok := s.sel.uidSet(set, uid)
	if !ok {
		return "MOVE completed", nil
	}
	var prior map[uint32][]string
	if _, ok := copyClass(s.sel.mbox, dst, true); ok {
		prior = s.priorFlags(s.sel.mbox.ID, uset)
	}
	pairs, err := s.srv.opts.Store.Move(s.ctx, s.sel.mbox.ID, uset, dst.ID)
	if err != nil {
		return "", s.storeError(err)
	}
	s.trainCopied(s.sel.mbox, dst, pairs, prior, true)
	if len(pairs) > 0 {
		s.w.untagged("OK [" + copyUID(dst, pairs) + "] Moved")
		moved := make([]uint32, len(pairs))
		for i, pr := range pairs {
			moved[i] = pr.Src
		}
		s.expunged(sortedUnique(moved))
	}
	return "MOVE completed", nil
}
