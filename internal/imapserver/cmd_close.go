package imapserver

// cmdClose: CLOSE (RFC 9051 §6.4.1): silently expunge \Deleted messages
// when read-write, then leave the selected state.
func (s *session) cmdClose(tag string, p *parser, uid bool) (string, error) {
	if err := p.end(); err != nil {
		return "", err
	}
	sel := s.sel
	s.sel = nil
	s.state = stateAuth
	if !sel.readOnly {
		if _, err := s.srv.opts.Store.Expunge(s.ctx, sel.mbox.ID, nil); err != nil {
			return "", err
		}
	}
	return "CLOSE completed", nil
}
