package imapserver

// cmdUnselect: UNSELECT (RFC 3691, RFC 9051 §6.4.2): leave the selected
// state without expunging.
func (s *session) cmdUnselect(tag string, p *parser, uid bool) (string, error) {
	if err := p.end(); err != nil {
		return "", err
	}
	s.sel = nil
	s.state = stateAuth
	return "UNSELECT completed", nil
}
