package imapserver

// cmdCapability: CAPABILITY (RFC 9051 §6.1.1).
func (s *session) cmdCapability(tag string, p *parser, uid bool) (string, error) {
	if err := p.end(); err != nil {
		return "", err
	}
	s.w.untagged("CAPABILITY " + s.capabilities())
	return "CAPABILITY completed", nil
}
