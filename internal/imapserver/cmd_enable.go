package imapserver

import "strings"

// cmdEnable: ENABLE (RFC 5161, RFC 9051 §6.3.1).
func (s *session) cmdEnable(tag string, p *parser, uid bool) (string, error) {
	var names []string
	for !p.eof() {
		if err := p.sp(); err != nil {
			return "", err
		}
		a, err := p.atom()
		if err != nil {
			return "", err
		}
		names = append(names, strings.ToUpper(a))
	}
	if len(names) == 0 {
		return "", errSyntax("ENABLE needs at least one capability")
	}
	var enabled []string
	for _, n := range names {
		switch n {
		case "CONDSTORE":
			if !s.condstore {
				s.condstore = true
				enabled = append(enabled, n)
			}
		case "QRESYNC":
			// QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
			if !s.qresync {
				s.qresync, s.condstore = true, true
				enabled = append(enabled, n)
			}
		case "IMAP4REV2":
			if !s.rev2 {
				s.rev2 = true
				enabled = append(enabled, "IMAP4rev2")
			}
		case "UTF8=ACCEPT":
			if !s.utf8 {
				s.utf8 = true
				enabled = append(enabled, n)
			}
		}
	}
	line := "ENABLED"
	for _, e := range enabled {
		line += " " + e
	}
	s.w.untagged(line)
	return "ENABLE completed", nil
}
