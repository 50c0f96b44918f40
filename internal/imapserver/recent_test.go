package imapserver

import "testing"

// The first read-write SELECT after messages arrive owns their \Recent flag;
// a second session sees none (RFC 3501 §2.3.2).
func TestRecentTwoSessions(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 3; i++ {
		e.deliver("", testMessage(i, "recent"))
	}
	a, b := e.login(), e.login()
	mustHave(t, a.ok("SELECT INBOX"), "* 3 EXISTS", "* 3 RECENT")
	mustHave(t, a.ok("SEARCH RECENT"), "* SEARCH 1 2 3")
	mustHave(t, a.ok("FETCH 1:3 (FLAGS)"), `* 1 FETCH (FLAGS (\Recent))`, `* 3 FETCH (FLAGS (\Recent))`)
	// \Recent is session state: STORE cannot set or clear it, and flag
	// changes keep it.
	a.expect(`STORE 1 -FLAGS (\Recent)`, "BAD")
	mustHave(t, a.ok(`STORE 1 +FLAGS (\Seen)`), `* 1 FETCH (UID 1 FLAGS (\Seen \Recent))`)
	mustHave(t, a.ok("SEARCH NEW"), "* SEARCH 2 3")
	mustHave(t, a.ok("SEARCH OLD"), "* SEARCH")
	mustNotHave(t, a.ok("SEARCH OLD"), "SEARCH 1")

	mustHave(t, b.ok("SELECT INBOX"), "* 3 EXISTS", "* 0 RECENT")
	lines := b.ok("FETCH 1:3 (FLAGS)")
	mustHave(t, lines, `* 1 FETCH (FLAGS (\Seen))`, `* 2 FETCH (FLAGS ())`)
	mustNotHave(t, lines, `\Recent`)
	mustNotHave(t, b.ok("SEARCH RECENT"), "SEARCH 1", "SEARCH 2", "SEARCH 3")
	mustHave(t, b.ok("SEARCH OLD"), "* SEARCH 1 2 3")
	// Reselecting in the first session does not get them back.
	mustHave(t, a.ok("SELECT INBOX"), "* 0 RECENT")
}

// EXAMINE shows unclaimed messages as recent but does not take the flag
// (RFC 3501 §6.3.2); STATUS RECENT counts them without claiming.
func TestRecentExamineAndStatus(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("", testMessage(1, "one"))
	e.deliver("", testMessage(2, "two"))
	a, b := e.login(), e.login()
	mustHave(t, b.ok("STATUS INBOX (MESSAGES RECENT)"), `* STATUS "INBOX" (MESSAGES 2 RECENT 2)`)
	mustHave(t, b.ok("STATUS INBOX (RECENT)"), `* STATUS "INBOX" (RECENT 2)`)
	mustHave(t, a.ok("EXAMINE INBOX"), "* 2 EXISTS", "* 2 RECENT")
	mustHave(t, a.ok("FETCH 2 (FLAGS)"), `* 2 FETCH (FLAGS (\Recent))`)
	a.ok("CLOSE")
	mustHave(t, b.ok("STATUS INBOX (RECENT)"), `* STATUS "INBOX" (RECENT 2)`)
	mustHave(t, b.ok("SELECT INBOX"), "* 2 RECENT")
	mustHave(t, a.ok("STATUS INBOX (RECENT)"), `* STATUS "INBOX" (RECENT 0)`)
	mustHave(t, a.ok("EXAMINE INBOX"), "* 2 EXISTS", "* 0 RECENT")
	mustNotHave(t, a.ok("FETCH 1:2 (FLAGS)"), `\Recent`)
	// Another mailbox is untouched; a delivery there is counted.
	e.deliver("Archive", testMessage(3, "three"))
	mustHave(t, a.ok("STATUS Archive (RECENT UNSEEN)"), `(RECENT 1 UNSEEN 1)`)
	mustHave(t, b.ok("STATUS INBOX (RECENT)"), `(RECENT 0)`)
}

// A message delivered while a session has the mailbox selected is recent
// in the first selected session to learn of it, announced with EXISTS.
func TestRecentDeliveryDuringSession(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("", testMessage(1, "old"))
	a, b, x := e.login(), e.login(), e.login()
	mustHave(t, a.ok("SELECT INBOX"), "* 1 RECENT")
	mustHave(t, b.ok("SELECT INBOX"), "* 0 RECENT")
	mustHave(t, x.ok("EXAMINE INBOX"), "* 0 RECENT")
	e.deliver("", testMessage(2, "new"))
	// The read-only session notices first but must not take the flag.
	mustHave(t, x.ok("NOOP"), "* 2 EXISTS", "* 0 RECENT")
	mustHave(t, b.ok("NOOP"), "* 2 EXISTS", "* 1 RECENT")
	mustHave(t, b.ok("FETCH 1:2 (UID FLAGS)"), `* 1 FETCH (UID 1 FLAGS ())`, `* 2 FETCH (UID 2 FLAGS (\Recent))`)
	mustHave(t, b.ok("UID SEARCH RECENT"), "* SEARCH 2")
	lines := a.ok("NOOP")
	mustHave(t, lines, "* 2 EXISTS", "* 1 RECENT")
	mustHave(t, a.ok("SEARCH RECENT"), "* SEARCH 1")
	mustNotHave(t, a.ok("FETCH 2 (FLAGS)"), `\Recent`)
	mustHave(t, a.ok(`STORE 1 +FLAGS (\Flagged)`), `* 1 FETCH (UID 1 FLAGS (\Flagged \Recent))`)
	// Other sessions hear a flag change without this session's \Recent.
	lines = b.ok("NOOP")
	mustHave(t, lines, `* 1 FETCH (UID 1 FLAGS (\Flagged))`)
	// Expunged recent messages leave the count.
	b.ok(`STORE 2 +FLAGS (\Deleted)`)
	b.ok("EXPUNGE")
	e.deliver("", testMessage(3, "newer"))
	mustHave(t, b.ok("NOOP"), "* 2 EXISTS", "* 1 RECENT")
	mustHave(t, b.ok("SEARCH RECENT"), "* SEARCH 2")
}

// IMAP4rev2 (RFC 9051) has no \Recent: no RECENT responses, no \Recent in
// FLAGS, and a rev2 session leaves the flag for a rev1 session to take.
func TestRecentRev2(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("", testMessage(1, "one"))
	c := e.login()
	c.ok("ENABLE IMAP4rev2")
	mustNotHave(t, c.ok("SELECT INBOX"), "RECENT")
	e.deliver("", testMessage(2, "two"))
	lines := c.ok("NOOP")
	mustHave(t, lines, "* 2 EXISTS")
	mustNotHave(t, lines, "RECENT")
	mustNotHave(t, c.ok("FETCH 1:2 (FLAGS)"), `\Recent`)
	rev1 := e.login()
	mustHave(t, rev1.ok("SELECT INBOX"), "* 2 RECENT")
}
