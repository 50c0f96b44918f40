package imapserver

// cmdDelete: DELETE (RFC 9051 §6.3.5). Children stay; the deleted parent
// then lists as a \NonExistent placeholder.
func (s *session) cmdDelete(tag string, p *parser, uid bool) (string, error) {
	name, err := s.mailboxArg(p)
	if err != nil {
		return "", err
	}
	if err := p.end(); err != nil {
		return "", err
	}
	if name == "INBOX" {
		return "", no("CANNOT", "INBOX cannot be deleted")
	}
	if s.sel != nil && s.sel.mbox.Name == name {
		return "", no("INUSE", "Mailbox is selected; unselect it first")
	}
	if err := s.srv.opts.Store.DeleteMailbox(s.ctx, s.acct.ID, name); err != nil {
		return "", s.storeError(err)
	}
	return "DELETE completed", nil
}
