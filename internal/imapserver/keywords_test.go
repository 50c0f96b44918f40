package imapserver

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// flagTracker checks what imaptest checks: a FETCH response never carries a
// keyword the last untagged FLAGS did not list (RFC 9051 §7.3.5).
type flagTracker struct {
	t       *testing.T
	defined map[string]bool
	seen    bool // a FLAGS response has been read
}

var (
	flagsResp = regexp.MustCompile(`^\* FLAGS \(([^)]*)\)`)
	fetchResp = regexp.MustCompile(`^\* \d+ FETCH \(.*FLAGS \(([^)]*)\)`)
)

// feed reads responses in order; it fails the test at the first FETCH that
// uses an unannounced keyword and returns the keywords FETCH carried.
func (ft *flagTracker) feed(lines []string) map[string]bool {
	ft.t.Helper()
	used := map[string]bool{}
	for _, l := range lines {
		if m := flagsResp.FindStringSubmatch(l); m != nil {
			ft.seen = true
			ft.defined = map[string]bool{}
			for _, f := range strings.Fields(m[1]) {
				ft.defined[strings.ToLower(f)] = true
			}
			continue
		}
		m := fetchResp.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if !ft.seen {
			ft.t.Fatalf("FETCH before any FLAGS: %q", l)
		}
		for _, f := range strings.Fields(m[1]) {
			if strings.HasPrefix(f, `\`) {
				continue
			}
			used[strings.ToLower(f)] = true
			if !ft.defined[strings.ToLower(f)] {
				ft.t.Fatalf("keyword %s used without being in FLAGS: %q (responses %q)", f, l, lines)
			}
		}
	}
	return used
}

func selectTracked(t *testing.T, c *rawClient) *flagTracker {
	t.Helper()
	ft := &flagTracker{t: t}
	ft.feed(c.ok("SELECT INBOX"))
	return ft
}

// Another session's STORE of a new keyword reaches this one as FLAGS, then
// FETCH — through NOOP, IDLE and the updates after any command.
func TestKeywordAnnouncedFromOtherSession(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("", testMessage(1, "one"))
	e.deliver("", testMessage(2, "two"))
	a, b := e.login(), e.login()
	fa, fb := selectTracked(t, a), selectTracked(t, b)

	fb.feed(b.ok("STORE 1 +FLAGS ($Label1)"))
	if used := fa.feed(a.ok("NOOP")); !used["$label1"] {
		t.Fatal("NOOP did not report the other session's keyword")
	}
	mustHave(t, a.ok("FETCH 1 FLAGS"), "$Label1")

	// Reported after a command other than NOOP.
	fb.feed(b.ok("STORE 2 +FLAGS.SILENT ($Other)"))
	if used := fa.feed(a.ok("CHECK")); !used["$other"] {
		t.Fatal("CHECK did not report the other session's keyword")
	}

	// A message another session appends with a new keyword: FLAGS comes
	// with its EXISTS, before any FETCH.
	msg := testMessage(3, "appended")
	b.ok("APPEND INBOX ($Arrived) {" + strconv.Itoa(len(msg)) + "+}\r\n" + msg)
	lines := a.ok("NOOP")
	mustHave(t, lines, "* 3 EXISTS", "* FLAGS (", " $Arrived)")
	fa.feed(lines)
	fa.feed(a.ok("FETCH 3 FLAGS"))

	// And while idling.
	a.send("I1 IDLE\r\n")
	if l := a.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	fb.feed(b.ok("STORE 1 +FLAGS (Idle-Word)"))
	var got []string
	for !has(got, "Idle-Word") || !fetchResp.MatchString(got[len(got)-1]) {
		got = append(got, a.line())
	}
	a.send("DONE\r\n")
	rest, st := a.until("I1")
	if !strings.HasPrefix(st, "OK") {
		t.Fatalf("IDLE: %s", st)
	}
	fa.feed(append(got, rest...))
}

// A session's own STORE, APPEND and COPY of a new keyword announce it
// first.
func TestKeywordAnnouncedOwnSession(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("", testMessage(1, "one"))
	c := e.login()
	ft := selectTracked(t, c)

	lines := c.ok("STORE 1 +FLAGS ($Label1 $hello)")
	if used := ft.feed(lines); !used["$label1"] || !used["$hello"] {
		t.Fatalf("STORE response lacks the keywords: %q", lines)
	}
	mustHave(t, lines, `OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Junk $NotJunk $Label1 $hello \*)]`)

	// Case differs: the same keyword (RFC 9051 §2.3.2), no second FLAGS.
	lines = c.ok("STORE 1 FLAGS ($HELLO)")
	ft.feed(lines)
	mustNotHave(t, lines, "* FLAGS")

	// .SILENT sends no FETCH, but the keyword is defined now.
	lines = c.ok("STORE 1 +FLAGS.SILENT ($Silent)")
	mustHave(t, lines, "* FLAGS (", " $Silent)")
	mustNotHave(t, lines, "FETCH")

	// NIL is an atom, so a valid keyword (RFC 9051 §9 flag-keyword);
	// Dovecot stores it and imaptest's "nil" group expects FETCH FLAGS
	// (NIL). It is announced like any other keyword.
	lines = c.ok("STORE 1 +FLAGS NIL")
	if used := ft.feed(lines); !used["nil"] {
		t.Fatalf("STORE +FLAGS NIL: %q", lines)
	}

	msg := testMessage(2, "appended")
	lines = c.ok("APPEND INBOX (\\Seen $Appended) {" + strconv.Itoa(len(msg)) + "+}\r\n" + msg)
	ft.feed(lines)
	mustHave(t, lines, "* FLAGS (", " $Appended)")
	lines = c.ok("FETCH 1:* (UID FLAGS)")
	if used := ft.feed(lines); !used["$appended"] {
		t.Fatalf("FETCH lacks the appended keyword: %q", lines)
	}

	// COPY from another mailbox brings its keywords along.
	c.ok("CREATE Other")
	c.ok(`APPEND Other ($Copied) {` + strconv.Itoa(len(msg)) + "+}\r\n" + msg)
	c.ok("EXAMINE Other")
	c.ok("COPY 1 INBOX")
	ft = selectTracked(t, c)
	if used := ft.feed(c.ok("FETCH 1:* FLAGS")); !used["$copied"] {
		t.Fatal("FETCH lacks the copied keyword")
	}
	// EXAMINE announces too (PERMANENTFLAGS stays empty).
	c.ok("EXAMINE Other")
	lines = c.ok("FETCH 1 FLAGS")
	mustHave(t, lines, "$Copied", "OK [PERMANENTFLAGS ()]")
}
