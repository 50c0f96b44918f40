package imapserver

import "strings"

// mailboxArg reads SP mailbox and decodes it, refusing bad names with
// NO [CANNOT].
func (s *session) mailboxArg(p *parser) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	raw, err := p.astring()
	if err != nil {
		return "", err
	}
	name, ok := s.decodeName(raw)
	if !ok {
		return "", no("CANNOT", "Invalid mailbox name")
	}
	return name, nil
}

// cmdCreate: CREATE (RFC 9051 §6.3.4). A trailing "/" only declares the
// intent to create children and is dropped. Missing parents are not
// created; LIST shows them as \NonExistent placeholders.
func (s *session) cmdCreate(tag string, p *parser, uid bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	raw, err := p.astring()
	if err != nil {
		return "", err
	}
	if p.accept(' ') { // CREATE-SPECIAL-USE etc.: parameters are ignored
		if err := p.skipValue(0); err != nil {
			return "", err
		}
	}
	if err := p.end(); err != nil {
		return "", err
	}
	raw = strings.TrimSuffix(raw, "/")
	name, ok := s.decodeName(raw)
	if !ok {
		return "", no("CANNOT", "Invalid mailbox name")
	}
	if name == "INBOX" {
		return "", no("ALREADYEXISTS", "INBOX always exists")
	}
	if _, err := s.srv.opts.Store.CreateMailbox(s.ctx, s.acct.ID, name, ""); err != nil {
		return "", s.storeError(err)
	}
	return "CREATE completed", nil
}
