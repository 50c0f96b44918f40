package imapserver

import (
	"strings"
	"testing"
)

// A text key alone or under AND is answered from its index hits only
// (runSearch's candidates); the answers must equal a full walk's: with
// flags (metadata loaded for the hits, in rounds of narrowChunk), under
// NOT and OR (not narrowed), and with a hit the session does not know yet.
func TestSearchTextNarrowed(t *testing.T) {
	e := newEnv(t, envOptions{})
	const n = 80
	var all, foo, fooSeen, notFoo []string
	for i := 1; i <= n; i++ {
		subj := "bar"
		if i%2 == 0 || i > 60 {
			subj = "foo"
		}
		e.deliver("", testMessage(i, subj))
		u := itoa(i)
		all = append(all, u)
		if subj == "foo" {
			foo = append(foo, u)
			if i%3 == 0 {
				fooSeen = append(fooSeen, u)
			}
		} else {
			notFoo = append(notFoo, u)
		}
	}
	c := e.login()
	c.ok("SELECT INBOX")
	c.ok(`STORE 3:* +FLAGS.SILENT (\Seen)`)
	c.ok(`STORE 1:* -FLAGS.SILENT (\Seen)`)
	for i := 3; i <= n; i += 3 {
		c.ok(`STORE ` + itoa(i) + ` +FLAGS.SILENT (\Seen)`)
	}
	// Delivered after the session's list was made, announced only after
	// the SEARCH response: not a hit yet.
	e.deliver("", testMessage(n+1, "foo"))
	lines := c.ok(`UID SEARCH SUBJECT foo`)
	mustHave(t, lines, "* SEARCH "+strings.Join(foo, " "), "* 81 EXISTS")
	foo, all = append(foo, itoa(n+1)), append(all, itoa(n+1))
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{`UID SEARCH SUBJECT foo`, foo},
		{`UID SEARCH SEEN SUBJECT foo`, fooSeen},
		{`UID SEARCH SUBJECT foo SUBJECT foo UID 1:*`, foo},
		{`UID SEARCH NOT SUBJECT foo`, notFoo},
		{`UID SEARCH OR SUBJECT foo SUBJECT bar`, all},
		{`UID SEARCH SUBJECT foo SUBJECT bar`, nil},
		{`SEARCH SUBJECT nothing-matches`, nil},
	} {
		lines := c.ok(tc.cmd)
		want := strings.TrimSpace("* SEARCH " + strings.Join(tc.want, " "))
		if len(lines) != 1 || lines[0] != want {
			t.Errorf("%s: got %q, want %q", tc.cmd, lines, want)
		}
	}
}

// Sessions share the cached UID list of a large mailbox; an expunge seen
// by one must not change the list another still holds.
func TestUIDCacheSharedList(t *testing.T) {
	e := newCachedEnv(t, 6)
	a, b := e.login(), e.login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	b.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	mustHave(t, b.ok("EXPUNGE"), "* 2 EXPUNGE")
	// FETCH may not report the expunge (RFC 9051 §7.5.1): a still numbers
	// the six messages it knows.
	lines, _ := a.run("FETCH 1:* (UID)") // NO [EXPUNGEISSUED] for UID 2
	mustHave(t, lines, "* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)", "* 6 FETCH (UID 6)")
	mustNotHave(t, lines, "* 2 FETCH (UID 3)", "EXPUNGE")
	mustHave(t, a.ok("NOOP"), "* 2 EXPUNGE")
	mustHave(t, a.ok("FETCH 1:* (UID)"), "* 2 FETCH (UID 3)", "* 5 FETCH (UID 6)")
	mustHave(t, b.ok("FETCH 1:* (UID)"), "* 2 FETCH (UID 3)", "* 5 FETCH (UID 6)")
}

// newCachedEnv is an env whose uidCache keeps every mailbox, with n
// messages in INBOX.
func newCachedEnv(t *testing.T, n int) *testEnv {
	e := newEnv(t, envOptions{})
	e.srv.uidCache.mu.Lock()
	e.srv.uidCache.min = 1
	e.srv.uidCache.mu.Unlock()
	for i := 1; i <= n; i++ {
		e.deliver("", testMessage(i, "c"))
	}
	return e
}
