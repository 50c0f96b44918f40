package imapserver

// cmdExamine: EXAMINE (RFC 9051 §6.3.3), a read-only SELECT.
func (s *session) cmdExamine(tag string, p *parser, uid bool) (string, error) {
	return s.selectCmd(p, true)
}
