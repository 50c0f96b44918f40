package imapserver

import "strconv"

// quotaLine renders the account's storage quota (RFC 9208 §5.1); ok is
// false when the account has no limit.
func (s *session) quotaLine() (string, bool, error) {
	used, limit, err := s.srv.opts.Store.QuotaUsage(s.ctx, s.acct.ID)
	if err != nil || limit <= 0 {
		return "", false, err
	}
	return `QUOTA "" (STORAGE ` + strconv.FormatInt((used+1023)/1024, 10) + " " +
		strconv.FormatInt(limit/1024, 10) + ")", true, nil
}

// cmdGetQuota: GETQUOTA (RFC 9208 §4.2). The one quota root is "".
func (s *session) cmdGetQuota(tag string, p *parser, uid bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	root, err := p.astring()
	if err != nil {
		return "", err
	}
	if err := p.end(); err != nil {
		return "", err
	}
	line, ok, err := s.quotaLine()
	if err != nil {
		return "", err
	}
	if root != "" || !ok {
		return "", no("NONEXISTENT", "No such quota root")
	}
	s.w.untagged(line)
	return "GETQUOTA completed", nil
}
