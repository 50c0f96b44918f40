package imapserver

// cmdLogout: LOGOUT (RFC 9051 §6.1.3).
func (s *session) cmdLogout(tag string, p *parser, uid bool) (string, error) {
	if err := p.end(); err != nil {
		return "", err
	}
	// The connection stops counting toward the connection limits before
	// the client can read the BYE and reconnect.
	s.srv.conns.Release(s.raw)
	s.w.untagged("BYE Logging out")
	s.state = stateLogout
	s.sel = nil
	return "LOGOUT completed", nil
}
