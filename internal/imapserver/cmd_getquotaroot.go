package imapserver

// cmdGetQuotaRoot: GETQUOTAROOT (RFC 9208 §4.3).
func (s *session) cmdGetQuotaRoot(tag string, p *parser, uid bool) (string, error) {
	name, err := s.mailboxArg(p)
	if err != nil {
		return "", err
	}
	if err := p.end(); err != nil {
		return "", err
	}
	if _, err := s.srv.opts.Store.GetMailbox(s.ctx, s.acct.ID, name); err != nil {
		return "", s.storeError(err)
	}
	line, ok, err := s.quotaLine()
	if err != nil {
		return "", err
	}
	enc := quote(s.encodeName(name), s.utf8Names())
	if !ok {
		s.w.untagged("QUOTAROOT " + enc)
		return "GETQUOTAROOT completed", nil
	}
	s.w.untagged("QUOTAROOT " + enc + ` ""`)
	s.w.untagged(line)
	return "GETQUOTAROOT completed", nil
}
