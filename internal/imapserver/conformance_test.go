package imapserver

import (
	"fmt"
	"strings"
	"testing"
)

// Behaviours Dovecot's imaptest scripted groups (atoms, select, move,
// esearch-condstore, search-addresses, append-binary) found wrong, each
// guarded here without the tool.

// '~' is an ATOM-CHAR (RFC 9051 §9); only "~{" starts a literal8. Every
// other ATOM-CHAR, ']' and the list wildcards are astring / list-mailbox
// characters.
func TestAtomCharacters(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	mustNotHave(t, c.ok(`LIST "" ~foo`), "~foo")
	c.expect("SELECT ~foo", "NO [NONEXISTENT]")
	// '&' starts modified UTF-7 in an IMAP4rev1 name, so this one is
	// refused as a name but parses.
	c.expect("SELECT !#$&'+,-.0123456789:;<=>?@^_`|[}", "NO")
	c.ok(`LIST "" !#$&'+,-.0123456789:;<=>?@^_` + "`|[}%*")
	odd := "!#$'+,-.0123456789:;<=>?@^_`|[}~"
	c.expect("SELECT "+odd, "NO [NONEXISTENT]")
	c.ok("CREATE ~" + odd)
	mustHave(t, c.ok(`LIST "" ~`+odd+"%*"), `"/" "~`+odd+`"`)
	mustHave(t, c.ok("SELECT ~"+odd), "* 0 EXISTS")
	// A real literal8 still parses where a string is allowed.
	mustHave(t, c.ok("STATUS ~{5}\r\nINBOX (MESSAGES)"), `* STATUS "INBOX" (MESSAGES 0)`)

	p := newParser([]byte("~foo ~{3}\r\nabc ~"))
	if s, err := p.astring(); err != nil || s != "~foo" {
		t.Fatalf("astring ~foo: %q %v", s, err)
	}
	p.sp()
	if s, err := p.astring(); err != nil || s != "abc" {
		t.Fatalf("literal8: %q %v", s, err)
	}
	p.sp()
	if s, err := p.listMailbox(); err != nil || s != "~" {
		t.Fatalf("list-mailbox ~: %q %v", s, err)
	}
}

// IMAP4rev1 sessions get OK [UNSEEN n] on SELECT and EXAMINE, the sequence
// number of the first message without \Seen (RFC 3501 §6.3.1); IMAP4rev2
// sessions do not (RFC 9051 Appendix E).
func TestSelectUnseen(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 4; i++ {
		e.deliver("", testMessage(i, "unseen"))
	}
	c := e.login()
	mustHave(t, c.ok("EXAMINE INBOX"), "* OK [UNSEEN 1]")
	c.ok("CLOSE")
	mustHave(t, c.ok("SELECT INBOX"), "* OK [UNSEEN 1]")
	c.ok(`STORE 1:2 +FLAGS.SILENT (\Seen)`)
	mustHave(t, c.ok("SELECT INBOX"), "* OK [UNSEEN 3]")
	c.ok(`STORE 1:4 +FLAGS.SILENT (\Seen)`)
	mustNotHave(t, c.ok("EXAMINE INBOX"), "UNSEEN")

	r2 := e.login()
	r2.ok("ENABLE IMAP4rev2")
	r2.ok("SELECT INBOX")
	r2.ok(`STORE 4 -FLAGS.SILENT (\Seen)`)
	mustNotHave(t, r2.ok("SELECT INBOX"), "UNSEEN")
	mustHave(t, c.ok("SELECT INBOX"), "* OK [UNSEEN 4]")
}

// MOVE into the selected mailbox itself is allowed (RFC 6851 does not
// forbid it): the message gets a new UID, COPYUID reports it, the old one
// is expunged and the new one announced.
func TestMoveToSameMailbox(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 3; i++ {
		e.deliver("", testMessage(i, "move"))
	}
	c := e.login()
	lines := c.ok("SELECT INBOX")
	uv := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "* OK [UIDVALIDITY ") {
			uv = strings.Fields(l)[3]
			uv = strings.TrimSuffix(uv, "]")
		}
	}
	if uv == "" {
		t.Fatalf("no UIDVALIDITY in %q", lines)
	}
	lines = c.ok("MOVE 1 INBOX")
	mustHave(t, lines, "* OK [COPYUID "+uv+" 1 4]", "* 1 EXPUNGE", "* 3 EXISTS")
	mustHave(t, c.ok("UID MOVE 2 INBOX"), "* OK [COPYUID "+uv+" 2 5]", "* 1 EXPUNGE", "* 3 EXISTS")
	mustHave(t, c.ok("FETCH 1:* UID"), "* 1 FETCH (UID 3)", "* 2 FETCH (UID 4)", "* 3 FETCH (UID 5)")
	mustHave(t, c.ok("STATUS INBOX (MESSAGES UIDNEXT)"), "(MESSAGES 3 UIDNEXT 6)")
}

// The first CONDSTORE-enabling command in selected state announces
// HIGHESTMODSEQ (RFC 7162 §3.1); ESEARCH MIN/MAX report the mod-sequence
// of the message they return, ALL/COUNT the highest of all matches
// (RFC 7162 §3.1.5).
func TestESearchModSeq(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 4; i++ {
		e.deliver("", testMessage(i, "modseq"))
	}
	c := e.login()
	c.ok("SELECT INBOX")
	mustHave(t, c.ok("FETCH 1 MODSEQ"), "* OK [HIGHESTMODSEQ ")
	mustNotHave(t, c.ok("FETCH 1 MODSEQ"), "HIGHESTMODSEQ")
	modseq := map[int]string{}
	for _, n := range []int{1, 3, 2, 4} {
		lines := c.ok(fmt.Sprintf(`STORE %d +FLAGS (\Seen)`, n))
		for _, l := range lines {
			if i := strings.Index(l, "MODSEQ ("); i >= 0 {
				modseq[n] = strings.TrimSuffix(strings.TrimSuffix(l[i+len("MODSEQ ("):], ")"), ")")
			}
		}
		if modseq[n] == "" {
			t.Fatalf("STORE %d: no MODSEQ in %q", n, lines)
		}
	}
	for _, tc := range []struct{ cmd, want string }{
		{`SEARCH RETURN (MIN) 1:3 MODSEQ "/flags/\\seen" all 1`, " MIN 1 MODSEQ " + modseq[1]},
		{`SEARCH RETURN (MAX) 1:3 MODSEQ "/flags/\\seen" all 1`, " MAX 3 MODSEQ " + modseq[3]},
		{`SEARCH RETURN () 1:3 MODSEQ "/flags/\\seen" all 1`, " ALL 1:3 MODSEQ " + modseq[2]},
		{`SEARCH RETURN (MIN MAX) 2:3 MODSEQ "/flags/\\seen" all 1`, " MIN 2 MAX 3 MODSEQ " + modseq[2]},
		{`SEARCH RETURN (MIN MAX) 1 MODSEQ 1`, " MIN 1 MAX 1 MODSEQ " + modseq[1]},
		{`SEARCH RETURN (COUNT) 1:3 MODSEQ 1`, " COUNT 3 MODSEQ " + modseq[2]},
		{`SEARCH 1:3 MODSEQ 1`, "* SEARCH 1 2 3 (MODSEQ " + modseq[2] + ")"},
	} {
		mustHave(t, c.ok(tc.cmd), tc.want)
	}

	// SAVE with only MIN/MAX keeps the returned messages (RFC 9051
	// §6.4.4.2), with ALL or COUNT every match.
	mustHave(t, c.ok("SEARCH RETURN (SAVE MIN MAX) 1:4"), " MIN 1 MAX 4")
	lines := c.ok("FETCH $ (UID)")
	mustHave(t, lines, "* 1 FETCH (UID 1)", "* 4 FETCH (UID 4)")
	mustNotHave(t, lines, "* 2 FETCH", "* 3 FETCH")
	mustHave(t, c.ok("SEARCH RETURN (SAVE MAX) 1:3"), " MAX 3")
	lines = c.ok("FETCH $ (UID)")
	mustHave(t, lines, "* 3 FETCH (UID 3)")
	mustNotHave(t, lines, "* 1 FETCH", "* 2 FETCH")
	mustHave(t, c.ok("SEARCH RETURN (SAVE MIN COUNT) 2:3"), " MIN 2 COUNT 2")
	mustHave(t, c.ok("FETCH $ (UID)"), "* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)")

	// ENABLE CONDSTORE in selected state announces it too, once.
	d := e.login()
	d.ok("SELECT INBOX")
	mustHave(t, d.ok("ENABLE CONDSTORE"), "* OK [HIGHESTMODSEQ "+modseq[4]+"]", "* ENABLED CONDSTORE")
	mustNotHave(t, d.ok("SEARCH MODSEQ 1"), "HIGHESTMODSEQ")
}

// SEARCH FROM/TO/CC/BCC match a substring of the header or of its parsed
// addresses, so an addr-spec written with comments is found by its plain
// form (the messages of imaptest's search-addresses group).
func TestSearchAddresses(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, h := range []string{
		"From: user-from@domain.org\r\nTo: user-to@domain.org\r\nCc: user-cc@domain.org\r\nBcc: user-bcc@domain.org\r\n",
		"From: RealFrom <user-from@domain.org>\r\nTo: RealTo <user-to@domain.org>\r\nCc: RealCc <user-cc@domain.org>\r\nBcc: RealBcc <user-bcc@domain.org>\r\n",
		"From: <user-from (comment)@ (comment) domain.org>\r\nTo: <user-to@domain.org>\r\nCc: <user-cc@domain.org>\r\nBcc: <user-bcc@domain.org>\r\n",
		"From: user-from@domain.org (RealFrom)\r\nTo: user-to@domain.org (RealTo)\r\nCc: user-cc@domain.org (RealCc)\r\nBcc: user-bcc@domain.org (RealBcc)\r\n",
		"From: user-from1@domain.org, user-from2@domain.org\r\nCc: user-cc@domain.org\r\n",
		"From: RealFrom <user-from@domain.org>\r\nTo: groupname: groupuser1@domain.org, groupuser2@domain.org;,\r\n  groupname2: groupuser3@domain.org;\r\n",
		"From: RealFrom <user-from@domain.org>\r\nTo: groupname:;\r\n",
		"From: =?UTF-8?Q?J=C3=B6rg?= <joerg (at home) @ example.org>\r\n",
	} {
		e.deliver("", h+"\r\nbody\r\n")
	}
	c := e.login()
	c.ok("SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"SEARCH FROM user-from@domain.org", "* SEARCH 1 2 3 4 6 7"},
		{"SEARCH TO user-to@domain.org", "* SEARCH 1 2 3 4"},
		{"SEARCH CC user-cc@domain.org", "* SEARCH 1 2 3 4 5"},
		{"SEARCH BCC user-bcc@domain.org", "* SEARCH 1 2 3 4"},
		{"SEARCH FROM realfrom", "* SEARCH 2 4 6 7"},
		{"SEARCH BCC realbcc", "* SEARCH 2 4"},
		{"SEARCH FROM ser-fro", "* SEARCH 1 2 3 4 5 6 7"},
		{"SEARCH FROM user-from1", "* SEARCH 5"},
		{"SEARCH TO groupname2", "* SEARCH 6"},
		{"SEARCH TO groupuser3", "* SEARCH 6"},
		{"SEARCH CHARSET UTF-8 FROM \"jörg <joerg@example.org>\"", "* SEARCH 8"},
		{"SEARCH FROM joerg@example.org", "* SEARCH 8"},
	} {
		lines := c.ok(tc.cmd)
		found := false
		for _, l := range lines {
			if l == tc.want {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: got %q, want %q", tc.cmd, lines, tc.want)
		}
	}
	mustNotHave(t, c.ok("SEARCH TO groupuser4"), "SEARCH 6")
}

// A part APPENDed in the binary transfer encoding (here with a NUL, sent
// as literal8) is stored base64-encoded: BODY[1] carries no NUL (RFC 9051
// §4.3.1), BINARY[1] returns the original octets as literal8 (RFC 3516).
func TestAppendBinaryPart(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	body := "\x00-\xe4\r\n\r\n"
	msg := "From: user@domain.org\r\nDate: Sat, 24 Mar 2007 23:00:00 +0200\r\nMime-Version: 1.0\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" + body
	c.ok(fmt.Sprintf("APPEND INBOX ~{%d+}\r\n%s", len(msg), msg))
	c.ok("SELECT INBOX")
	lines := c.ok("FETCH 1 (BODY.PEEK[1] BODYSTRUCTURE)")
	mustHave(t, lines, "BODY[1] {14}\r\nAC3kDQoNCg==\r\n", `"APPLICATION" "OCTET-STREAM" NIL NIL NIL "BASE64" 14`)
	if strings.Contains(strings.Join(lines, ""), "\x00") {
		t.Fatalf("NUL in BODY[1]: %q", lines)
	}
	mustHave(t, c.ok("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])"), "BINARY.SIZE[1] 7 BINARY[1] ~{7}\r\n"+body)
	// A message without binary parts is stored byte for byte.
	plain := "Subject: 8bit\r\nContent-Transfer-Encoding: 8bit\r\n\r\nb\xe4dy\r\n"
	c.ok(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(plain), plain))
	c.ok("NOOP")
	mustHave(t, c.ok("FETCH 2 (BODY.PEEK[])"), fmt.Sprintf("BODY[] {%d}\r\n%s", len(plain), plain))
}

// Mail that reached the store with raw NULs (SMTP, import) is answered in
// BODY[] with NUL replaced by 0x80, same length (RFC 9051 §4.3.1: no NUL in
// a literal); BINARY[] still returns the octets as literal8.
func TestFetchBodyWithNUL(t *testing.T) {
	e := newEnv(t, envOptions{})
	msg := "Subject: nul\r\n\r\na\x00b\r\n"
	e.deliver("", msg)
	c := e.login()
	c.ok("SELECT INBOX")
	lines := c.ok("FETCH 1 (BODY.PEEK[] BODY.PEEK[TEXT] BODY.PEEK[1]<1.1> RFC822.SIZE)")
	mustHave(t, lines, "BODY[] {21}\r\nSubject: nul\r\n\r\na\x80b\r\n", "BODY[TEXT] {5}\r\na\x80b\r\n", "BODY[1]<1> {1}\r\n\x80", "RFC822.SIZE 21")
	if strings.Contains(strings.Join(lines, ""), "\x00") {
		t.Fatalf("NUL in BODY[]: %q", lines)
	}
	mustHave(t, c.ok("FETCH 1 (BINARY.PEEK[])"), "BINARY[] ~{21}\r\n"+msg)
}
