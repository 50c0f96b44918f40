package imapserver

// cmdNamespace: NAMESPACE (RFC 2342, RFC 9051 §6.3.10): one personal
// namespace, no others.
func (s *session) cmdNamespace(tag string, p *parser, uid bool) (string, error) {
	if err := p.end(); err != nil {
		return "", err
	}
	s.w.untagged(`NAMESPACE (("" "/")) NIL NIL`)
	return "NAMESPACE completed", nil
}
