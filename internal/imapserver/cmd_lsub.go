package imapserver

// cmdLsub: LSUB (RFC 3501 §6.3.9), kept for IMAP4rev1 clients.
func (s *session) cmdLsub(tag string, p *parser, uid bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	ref, err := p.astring()
	if err != nil {
		return "", err
	}
	if err := p.sp(); err != nil {
		return "", err
	}
	pat, err := p.listMailbox()
	if err != nil {
		return "", err
	}
	if err := p.end(); err != nil {
		return "", err
	}
	return "LSUB completed", s.list(ref, []string{pat}, listOptions{selSubscribed: true}, true)
}
