package imapserver

// cmdNoop: NOOP (RFC 9051 §6.1.2) — its point is to collect pending
// untagged updates, so the store is always polled.
func (s *session) cmdNoop(tag string, p *parser, uid bool) (string, error) {
	if err := p.end(); err != nil {
		return "", err
	}
	if s.sel != nil {
		s.sel.dirty = true
	}
	return "NOOP completed", nil
}
