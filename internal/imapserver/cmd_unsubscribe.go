package imapserver

// cmdUnsubscribe: UNSUBSCRIBE (RFC 9051 §6.3.8).
func (s *session) cmdUnsubscribe(tag string, p *parser, uid bool) (string, error) {
	return s.subscribe(p, false)
}
