package imapserver

// cmdSubscribe: SUBSCRIBE (RFC 9051 §6.3.7).
func (s *session) cmdSubscribe(tag string, p *parser, uid bool) (string, error) {
	return s.subscribe(p, true)
}

func (s *session) subscribe(p *parser, on bool) (string, error) {
	name, err := s.mailboxArg(p)
	if err != nil {
		return "", err
	}
	if err := p.end(); err != nil {
		return "", err
	}
	if err := s.srv.opts.Store.SetSubscribed(s.ctx, s.acct.ID, name, on); err != nil {
		return "", s.storeError(err)
	}
	if on {
		return "SUBSCRIBE completed", nil
	}
	return "UNSUBSCRIBE completed", nil
}
