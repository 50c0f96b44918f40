package imapserver

// cmdID: ID (RFC 2971). The client's parameters are read and ignored
// apart from logging; the server names itself.
func (s *session) cmdID(tag string, p *parser, uid bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	var params []string
	if p.peek() == '(' {
		var err error
		if params, err = p.nstringList(); err != nil {
			return "", err
		}
		if len(params)%2 != 0 || len(params) > 60 {
			return "", errSyntax("bad ID parameter list")
		}
	} else if _, isNil, err := p.nstring(); err != nil || !isNil {
		return "", errSyntax("expected NIL or a parameter list")
	}
	if err := p.end(); err != nil {
		return "", err
	}
	if len(params) > 0 {
		s.srv.log.Debug("client id", append(s.logf(), "id", params)...)
	}
	s.w.untagged(`ID ("name" "pochta" "vendor" "pochta")`)
	return "ID completed", nil
}
