package imapserver

// cmdCheck: CHECK (RFC 3501 §6.4.1; gone from IMAP4rev2 but harmless).
// Every write is already durable, so it only polls for updates.
func (s *session) cmdCheck(tag string, p *parser, uid bool) (string, error) {
	if err := p.end(); err != nil {
		return "", err
	}
	s.sel.dirty = true
	return "CHECK completed", nil
}
