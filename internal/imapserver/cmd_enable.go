package imapserver

import (
	"strconv"
	"strings"
)

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
				s.enableCondstore()
				enabled = append(enabled, n)
			}
		case "QRESYNC":
			// QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
			if !s.qresync {
				s.qresync = true
				s.enableCondstore()
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

// enableCondstore turns CONDSTORE on, as every CONDSTORE-enabling command
// does (RFC 7162 §3.1). When that happens with a mailbox selected, the
// client starts tracking mod-sequences from here on, so the mailbox's
// HIGHESTMODSEQ as this session knows it is announced in an untagged OK
// before the command's own responses (RFC 7162 §3.1.2.1; Dovecot does the
// same).
func (s *session) enableCondstore() {
	if s.condstore {
		return
	}
	s.condstore = true
	if s.sel != nil {
		s.w.untagged("OK [HIGHESTMODSEQ " + strconv.FormatUint(s.sel.modseq, 10) + "] Highest")
	}
}
