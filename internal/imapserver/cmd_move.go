package imapserver

// cmdMove: MOVE and UID MOVE (RFC 6851, RFC 9051 §6.4.8): COPYUID in an
// untagged OK, then EXPUNGE (or VANISHED) for the moved messages.
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
	if dst.ID == s.sel.mbox.ID {
		return "", no("CANNOT", "Source and destination are the same mailbox")
	}
	pairs, err := s.srv.opts.Store.Move(s.ctx, s.sel.mbox.ID, uset, dst.ID)
	if err != nil {
		return "", s.storeError(err)
	}
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
