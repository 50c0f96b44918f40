package imapserver

// cmdRename: RENAME (RFC 9051 §6.3.6), children included; renaming INBOX
// moves its messages to the new mailbox and leaves INBOX empty.
func (s *session) cmdRename(tag string, p *parser, uid bool) (string, error) {
	from, err := s.mailboxArg(p)
	if err != nil {
		return "", err
	}
	to, err := s.mailboxArg(p)
	if err != nil {
		return "", err
	}
	if err := p.end(); err != nil {
		return "", err
	}
	if to == "INBOX" {
		return "", no("ALREADYEXISTS", "INBOX always exists")
	}
	if err := s.srv.opts.Store.RenameMailbox(s.ctx, s.acct.ID, from, to); err != nil {
		return "", s.storeError(err)
	}
	if s.sel != nil && s.sel.mbox.Name == from && from != "INBOX" {
		s.sel.mbox.Name = to
	}
	return "RENAME completed", nil
}
