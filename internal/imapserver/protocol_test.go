package imapserver

import (
	"strings"
	"testing"
)

// step is one command of a raw protocol transcript: the tagged status must
// start with status, and every string in want must appear in some untagged
// line (or the tagged line); none of absent may.
type step struct {
	cmd    string
	status string
	want   []string
	absent []string
}

func runSteps(t *testing.T, c *rawClient, steps []step) {
	t.Helper()
	for _, s := range steps {
		lines, st := c.run(s.cmd)
		all := append(lines, st)
		if !strings.HasPrefix(st, s.status) {
			t.Fatalf("%s: status %q, want %q (untagged %q)", s.cmd, st, s.status, lines)
		}
		for _, w := range s.want {
			if !has(all, w) {
				t.Fatalf("%s: missing %q in %q", s.cmd, w, all)
			}
		}
		for _, a := range s.absent {
			if has(all, a) {
				t.Fatalf("%s: unexpected %q in %q", s.cmd, a, all)
			}
		}
	}
}

const multipart = "From: \"Zoe Z\" <zoe@example.com>\r\nTo: Bob <bob@example.net>\r\nCc: carol@example.net\r\n" +
	"Subject: Re: Report\r\nDate: Tue, 3 Mar 2026 09:00:00 +0100\r\nMessage-ID: <mp@example.com>\r\n" +
	"References: <m1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
	"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached quarterly numbers.\r\n" +
	"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--XX--\r\n"

func TestProtocolTranscript(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("", testMessage(1, "Quarterly report"))
	e.deliver("", testMessage(2, "Lunch tomorrow"))
	e.deliver("", multipart)
	c := e.dial()
	runSteps(t, c, []step{
		{cmd: "CAPABILITY", status: "OK", want: []string{"IMAP4rev1 IMAP4rev2", "STARTTLS", "AUTH=PLAIN", "SASL-IR", "LITERAL+", "ID", "ENABLE"}},
		{cmd: "NOOP", status: "OK"},
		{cmd: `ID ("name" "test" "version" "1")`, status: "OK", want: []string{`* ID ("name" "pochta"`}},
		{cmd: "SELECT INBOX", status: "NO", want: []string{"Log in first"}},
		{cmd: "LOGIN alice@example.org wrong", status: "NO [AUTHENTICATIONFAILED]"},
		{cmd: `LOGIN alice@example.org "` + testPassword + `"`, status: "OK [CAPABILITY", want: []string{"CONDSTORE", "QRESYNC", "MOVE", "APPENDLIMIT=", "QUOTA=RES-STORAGE", "SORT", "STATUS=SIZE", "COMPRESS=DEFLATE", "SPECIAL-USE", "LIST-STATUS", "UIDPLUS"}, absent: []string{"AUTH=PLAIN"}},
		{cmd: "LOGIN alice x", status: "BAD"},
		{cmd: "NAMESPACE", status: "OK", want: []string{`* NAMESPACE (("" "/")) NIL NIL`}},
		{cmd: "ENABLE CONDSTORE", status: "OK", want: []string{"* ENABLED CONDSTORE"}},
		{cmd: `LIST "" ""`, status: "OK", want: []string{`* LIST (\Noselect) "/" ""`}},
		{cmd: `LIST "" *`, status: "OK", want: []string{`"INBOX"`, `\Sent) "/" "Sent"`, `\Trash`}},
		{cmd: `CREATE Work/2026`, status: "OK"},
		{cmd: `CREATE Work/2026`, status: "NO [ALREADYEXISTS]"},
		{cmd: `CREATE INBOX`, status: "NO [ALREADYEXISTS]"},
		{cmd: `LIST "" %`, status: "OK", want: []string{`* LIST (\HasChildren) "/" "Work"`}, absent: []string{"Work/2026"}},
		{cmd: `LIST "Work/" %`, status: "OK", want: []string{`"Work/2026"`}},
		{cmd: `LIST (SPECIAL-USE) "" *`, status: "OK", want: []string{`\Junk`}, absent: []string{`"INBOX"`}},
		{cmd: `LIST "" (INBOX Sent) RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UNSEEN SIZE))`, status: "OK", want: []string{`* STATUS "INBOX" (MESSAGES 3 UNSEEN 3 SIZE `, `"Sent"`}},
		{cmd: `SUBSCRIBE Work/2026`, status: "OK"},
		{cmd: `LIST (SUBSCRIBED) "" *`, status: "OK", want: []string{`\Subscribed) "/" "Work/2026"`}},
		{cmd: `LSUB "" *`, status: "OK", want: []string{`* LSUB () "/" "Work/2026"`}},
		{cmd: `UNSUBSCRIBE Work/2026`, status: "OK"},
		{cmd: `LSUB "" Work/*`, status: "OK", absent: []string{"Work/2026"}},
		{cmd: `RENAME Work/2026 Work/2027`, status: "OK"},
		{cmd: `RENAME Nope Other`, status: "NO [NONEXISTENT]"},
		{cmd: `STATUS Work/2027 (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ RECENT)`, status: "OK", want: []string{`* STATUS "Work/2027" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY `, "DELETED 0 SIZE 0 HIGHESTMODSEQ"}},
		{cmd: `DELETE Work/2027`, status: "OK"},
		{cmd: `DELETE INBOX`, status: "NO"},
		{cmd: `STATUS Nope (MESSAGES)`, status: "NO [NONEXISTENT]"},
		{cmd: "GETQUOTAROOT INBOX", status: "OK", want: []string{`* QUOTAROOT "INBOX"`}},
		{cmd: "EXAMINE INBOX", status: "OK [READ-ONLY]", want: []string{"* 3 EXISTS", "[UIDVALIDITY ", "[UIDNEXT 4]", "[HIGHESTMODSEQ ", "* 3 RECENT", "PERMANENTFLAGS ()"}},
		{cmd: "FETCH 1 BODY[TEXT]", status: "OK", want: []string{"BODY[TEXT] {20}"}, absent: []string{`\Seen`}},
		{cmd: "STORE 1 +FLAGS (\\Flagged)", status: "NO [READ-ONLY]"},
		{cmd: "SELECT INBOX", status: "OK [READ-WRITE]", want: []string{"* 3 EXISTS", "* 3 RECENT", `FLAGS (\Answered \Flagged \Deleted \Seen \Draft`}},
		{cmd: "CHECK", status: "OK"},
		{cmd: "FETCH 1:* FAST", status: "OK", want: []string{`* 1 FETCH (FLAGS (\Recent) INTERNALDATE "`, "RFC822.SIZE "}},
		{cmd: "FETCH 1 ALL", status: "OK", want: []string{`ENVELOPE ("Mon, 2 Mar 2026 10:01:00 +0000" "Quarterly report" (("Sender 1" NIL "sender1" "example.com"))`}},
		{cmd: "FETCH 3 FULL", status: "OK", want: []string{`BODY (("TEXT" "PLAIN"`}},
		{cmd: "FETCH 3 (BODYSTRUCTURE)", status: "OK", want: []string{`"MIXED" ("BOUNDARY" "XX")`}},
		{cmd: "FETCH 3 (BODY.PEEK[1] BODY.PEEK[2.MIME] BINARY.PEEK[2] BINARY.SIZE[2])", status: "OK", want: []string{"BODY[1] {31}\r\nSee attached quarterly numbers.", "BODY[2.MIME] {", "BINARY[2] ~{4}\r\n\x00\x01\x02\x03", "BINARY.SIZE[2] 4"}},
		{cmd: "FETCH 3 (BODY.PEEK[HEADER.FIELDS (Subject From)])", status: "OK", want: []string{"BODY[HEADER.FIELDS (SUBJECT FROM)] {", "Subject: Re: Report"}, absent: []string{"Date:"}},
		{cmd: "FETCH 3 (BODY.PEEK[HEADER.FIELDS.NOT (Subject)] RFC822.HEADER)", status: "OK", want: []string{"BODY[HEADER.FIELDS.NOT (SUBJECT)]", "RFC822.HEADER {"}},
		{cmd: "FETCH 1 (BODY.PEEK[]<0.4> MODSEQ)", status: "OK", want: []string{"BODY[]<0> {4}\r\nFrom", "MODSEQ ("}},
		{cmd: "FETCH 1 (FLAGS)", status: "OK", absent: []string{`\Seen`}},
		{cmd: "FETCH 1 (RFC822.TEXT)", status: "OK", want: []string{"RFC822.TEXT {20}", `FLAGS (\Seen \Recent)`}},
		{cmd: "FETCH 2 BODY[]", status: "OK", want: []string{`FLAGS (\Seen \Recent)`}},
		{cmd: "FETCH 2 RFC822", status: "OK", want: []string{"RFC822 {"}},
		{cmd: "FETCH 9 FLAGS", status: "OK"},
		{cmd: "FETCH 1 BOGUS", status: "BAD"},
		{cmd: "UID FETCH 1:* (FLAGS)", status: "OK", want: []string{"* 1 FETCH (UID 1 FLAGS", "* 3 FETCH (UID 3 FLAGS"}},
		{cmd: "STORE 1 +FLAGS (\\Flagged $Important)", status: "OK", want: []string{`* 1 FETCH (UID 1 FLAGS (`, `$Important`, `\Flagged`, "MODSEQ ("}},
		{cmd: "STORE 1 -FLAGS.SILENT ($Important)", status: "OK", absent: []string{"FETCH"}},
		{cmd: "STORE 1 FLAGS \\Seen", status: "OK", want: []string{`* 1 FETCH (UID 1 FLAGS (\Seen \Recent)`}},
		{cmd: "STORE 1 +FLAGS (\\Recent)", status: "BAD"},
		{cmd: "STORE 1:2 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)", status: "OK [MODIFIED 1:2]"},
		{cmd: "UID STORE 3 +FLAGS (\\Deleted)", status: "OK", want: []string{`* 3 FETCH (UID 3 FLAGS (\Deleted \Recent)`}},
		{cmd: "SEARCH ALL", status: "OK", want: []string{"* SEARCH 1 2 3"}},
		{cmd: "SEARCH DELETED", status: "OK", want: []string{"* SEARCH 3"}},
		{cmd: "UID SEARCH UNDELETED SEEN", status: "OK", want: []string{"* SEARCH 1 2"}},
		{cmd: "SEARCH SUBJECT quarterly", status: "OK", want: []string{"* SEARCH 1"}},
		{cmd: "SEARCH CHARSET UTF-8 FROM zoe", status: "OK", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH CHARSET KOI8-R FROM zoe", status: "NO [BADCHARSET"},
		{cmd: "SEARCH TO bob CC carol", status: "OK", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH BODY attached", status: "OK", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH TEXT lunch", status: "OK", want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH HEADER Message-ID <mp@", status: "OK", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH OR SUBJECT lunch (FLAGGED) NOT 3", status: "OK", want: []string{"* SEARCH 2"}},
		{cmd: "SEARCH LARGER 300 SMALLER 100000", status: "OK", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH UID 2:* NEW", status: "OK", want: []string{"* SEARCH 3"}, absent: []string{"SEARCH 2"}},
		{cmd: "SEARCH RECENT SINCE 1-Jan-2000 BEFORE 1-Jan-2100", status: "OK", want: []string{"* SEARCH 1 2 3"}},
		{cmd: "SEARCH OLD", status: "OK", want: []string{"* SEARCH"}, absent: []string{"SEARCH 1", "SEARCH 2", "SEARCH 3"}},
		{cmd: "SEARCH SENTON 3-Mar-2026", status: "OK", want: []string{"* SEARCH 3"}},
		{cmd: "SEARCH SENTBEFORE 3-Mar-2026 SENTSINCE 1-Mar-2026", status: "OK", want: []string{"* SEARCH 1 2"}},
		{cmd: "SEARCH ON 1-Jan-1990", status: "OK", absent: []string{"SEARCH 1"}},
		{cmd: "SEARCH KEYWORD $Important", status: "OK", absent: []string{"SEARCH 1"}},
		{cmd: "SEARCH MODSEQ 1", status: "OK", want: []string{"* SEARCH 1 2 3 (MODSEQ "}},
		{cmd: "SEARCH RETURN (MIN MAX COUNT ALL) 1:*", status: "OK", want: []string{`* ESEARCH (TAG "T`, "MIN 1 MAX 3 COUNT 3 ALL 1:3"}},
		{cmd: "UID SEARCH RETURN () SEEN", status: "OK", want: []string{") UID ALL 1:2"}},
		{cmd: "SEARCH RETURN (SAVE) SUBJECT lunch", status: "OK", absent: []string{"ESEARCH"}},
		{cmd: "FETCH $ (UID)", status: "OK", want: []string{"* 2 FETCH (UID 2)"}, absent: []string{"* 1 FETCH"}},
		{cmd: "SEARCH FROG", status: "BAD"},
		{cmd: "SORT (SUBJECT) UTF-8 ALL", status: "OK", want: []string{"* SORT 2 1 3"}},
		{cmd: "SORT (REVERSE ARRIVAL) UTF-8 ALL", status: "OK", want: []string{"* SORT 3 2 1"}},
		{cmd: "UID SORT (DATE) UTF-8 ALL", status: "OK", want: []string{"* SORT 1 2 3"}},
		{cmd: "SORT (REVERSE SIZE) US-ASCII ALL", status: "OK", want: []string{"* SORT 3 "}},
		{cmd: "SORT (FROM TO CC DISPLAYFROM DISPLAYTO) UTF-8 ALL", status: "OK", want: []string{"* SORT "}},
		{cmd: "THREAD ORDEREDSUBJECT UTF-8 ALL", status: "OK", want: []string{"* THREAD (1)(2)(3)"}},
		{cmd: "THREAD REFERENCES UTF-8 ALL", status: "OK", want: []string{"* THREAD (1 3)(2)"}},
		{cmd: "COPY 1:2 Archive", status: "OK [COPYUID ", want: []string{" 1:2 1:2] COPY completed", "COPYUID"}},
		{cmd: "COPY 1 Nowhere", status: "NO [TRYCREATE]"},
		{cmd: "UID MOVE 2 Junk", status: "OK", want: []string{"* OK [COPYUID ", "* 2 EXPUNGE"}},
		{cmd: "FETCH 2 (UID)", status: "OK", want: []string{"* 2 FETCH (UID 3)"}},
		{cmd: "UID EXPUNGE 1", status: "OK", absent: []string{"EXPUNGE\r"}},
		{cmd: "EXPUNGE", status: "OK", want: []string{"* 2 EXPUNGE"}},
		{cmd: "GETQUOTA \"\"", status: "NO"},
		{cmd: "UNSELECT", status: "OK"},
		{cmd: "FETCH 1 FLAGS", status: "BAD"},
		{cmd: "STATUS Archive (MESSAGES)", status: "OK", want: []string{"MESSAGES 2"}},
		{cmd: "SELECT Archive", status: "OK", want: []string{"* 2 EXISTS"}},
		{cmd: "STORE 1:* +FLAGS (\\Deleted)", status: "OK"},
		{cmd: "CLOSE", status: "OK", absent: []string{"EXPUNGE"}},
		{cmd: "STATUS Archive (MESSAGES)", status: "OK", want: []string{"MESSAGES 0"}},
		{cmd: "ENABLE IMAP4rev2", status: "OK", want: []string{"* ENABLED IMAP4rev2"}},
		{cmd: "SELECT INBOX", status: "OK", want: []string{`* LIST () "/" "INBOX"`}, absent: []string{"RECENT"}},
		{cmd: "SEARCH ALL", status: "OK", want: []string{"* ESEARCH (TAG "}},
		{cmd: "FROB", status: "BAD"},
		{cmd: "LOGOUT", status: "OK", want: []string{"* BYE"}},
	})
}
