package imapserver

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"pochta/internal/store"
)

// generalStore is the real sqlite store with store.FlagLister hidden, so a
// server over it answers every FETCH through the general path (Messages).
type generalStore struct {
	store.Store
	store.WatchFuncer
}

// twinEnv is a server whose FETCH FLAGS takes the flagList path and a
// second one over the same store taking the general path.
type twinEnv struct {
	*testEnv
	general *testEnv
}

func newTwinEnv(t *testing.T) *twinEnv {
	t.Helper()
	e := newEnv(t, envOptions{})
	if _, ok := any(generalStore{}).(store.FlagLister); ok {
		t.Fatal("generalStore must not be a store.FlagLister")
	}
	if _, ok := any(e.st).(store.FlagLister); !ok {
		t.Fatal("the sqlite store is not a store.FlagLister")
	}
	opts := e.srv.opts
	opts.Store = generalStore{e.st, e.st}
	g := *e
	g.srv = New(opts)
	g.addr = serveLoopback(t, g.srv)
	return &twinEnv{testEnv: e, general: &g}
}

// raw sends one command and returns everything up to and including its
// tagged response, CRLFs and all.
func (rc *rawClient) raw(cmd string) string {
	rc.t.Helper()
	rc.next++
	tag := "T" + strconv.Itoa(rc.next)
	rc.send(tag + " " + cmd + "\r\n")
	var sb strings.Builder
	for n := 0; ; n++ {
		rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := rc.r.ReadString('\n')
		if err != nil {
			rc.t.Fatalf("%s: %v after %q", cmd, err, sb.String())
		}
		sb.WriteString(l)
		if strings.HasPrefix(l, tag+" ") {
			return sb.String()
		}
		if n > 100000 {
			rc.t.Fatalf("%s: too many lines", cmd)
		}
	}
}

// same runs each command on both sessions (fast: flagList; general:
// Messages) and fails unless the answers are equal byte for byte. It
// returns the fast session's answers.
func same(t *testing.T, fast, general *rawClient, cmds ...string) []string {
	t.Helper()
	var out []string
	for _, cmd := range cmds {
		f, g := fast.raw(cmd), general.raw(cmd)
		if f != g {
			t.Fatalf("%s: flagList answered\n%s\nthe general path\n%s", cmd, f, g)
		}
		out = append(out, f)
	}
	return out
}

// flagsMailbox fills INBOX with 30 messages (UIDs 1..30) of varied flags
// and a hole at 7..9, and returns the modseq after that.
func (e *twinEnv) flagsMailbox(t *testing.T) (store.Mailbox, uint64) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		e.deliver("", testMessage(i, fmt.Sprint("flags ", i)))
	}
	inbox, err := e.st.GetMailbox(ctx, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	set := func(lo, hi uint32, flags ...string) {
		t.Helper()
		if _, _, err := e.st.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: lo, Stop: hi}}, store.FlagsAdd, flags, 0); err != nil {
			t.Fatal(err)
		}
	}
	set(1, 12, `\Seen`)
	set(3, 3, `$Label1`, `Work`, `\Flagged`)
	set(7, 9, `\Deleted`)
	if _, err := e.st.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 7, Stop: 9}}); err != nil {
		t.Fatal(err)
	}
	set(15, 16, `\Deleted`, `$Junk`)
	set(20, 20, `\Answered`, `\Draft`, `Project-X`)
	st, err := e.st.Status(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	set(22, 24, `\Seen`)
	set(25, 25, `Late`)
	return inbox, st.HighestModSeq
}

// resyncCommands are what clients send to resync, and a few narrower sets.
func resyncCommands(since uint64) []string {
	cs := fmt.Sprintf(" (CHANGEDSINCE %d)", since)
	return []string{
		"UID FETCH 1:* (FLAGS)",
		"FETCH 1:* (UID FLAGS)",
		"FETCH 1:* FLAGS",
		"UID FETCH 1:* (FLAGS MODSEQ)",
		"UID FETCH 1:* (FLAGS)" + cs,
		"FETCH 1:* (UID FLAGS)" + cs,
		"UID FETCH 2:5,8,11:* (FLAGS)",
		"FETCH 2:4,9,12:* (FLAGS MODSEQ)",
		"UID FETCH 3:20 (UID MODSEQ)",
		"UID FETCH 6:10 (FLAGS)" + cs,
		"UID FETCH 100:200 (FLAGS)",
		"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 18446744073709551615)",
	}
}

// TestFetchFlagsSameAsGeneral: IMAP4rev1 sessions that EXAMINE (so the
// unclaimed messages are \Recent in both) get from flagList exactly what
// the general path sends, for a mailbox with holes, keywords, \Deleted
// and CHANGEDSINCE (with QRESYNC's VANISHED too).
func TestFetchFlagsSameAsGeneral(t *testing.T) {
	e := newTwinEnv(t)
	_, mid := e.flagsMailbox(t)
	fast, general := e.login(), e.general.login()
	same(t, fast, general, "ENABLE QRESYNC", "EXAMINE INBOX")
	out := same(t, fast, general, append(resyncCommands(mid),
		fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", mid-4),
		"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")...)
	if !strings.Contains(out[0], `* 3 FETCH (UID 3 FLAGS ($Label1 Work \Flagged \Seen \Recent))`) ||
		strings.Contains(out[0], "UID 8 ") || !strings.Contains(out[0], "* 7 FETCH (UID 10 ") {
		t.Fatalf("unexpected listing:\n%s", out[0])
	}
	if strings.Count(out[4], " FETCH (") != 4 { // 22..25 changed after mid
		t.Fatalf("CHANGEDSINCE %d:\n%s", mid, out[4])
	}
	if !strings.HasPrefix(out[len(out)-1], "* VANISHED (EARLIER) 7:9\r\n") {
		t.Fatalf("VANISHED:\n%s", out[len(out)-1])
	}
}

// TestFetchFlagsExpungedByOther: sessions that have not yet been told of
// another session's expunge and flag changes answer alike: the gone
// messages left out with NO EXPUNGEISSUED (also under CHANGEDSINCE, both
// before and after the session learnt of the expunge), a new keyword
// announced with FLAGS first; then (at NOOP: a command that fails sends
// no updates) the EXPUNGEs, and the listing after.
func TestFetchFlagsExpungedByOther(t *testing.T) {
	e := newTwinEnv(t)
	inbox, mid := e.flagsMailbox(t)
	claim := e.login() // takes \Recent: neither session below has it
	claim.ok("SELECT INBOX")
	claim.ok("LOGOUT")
	fast, general := e.login(), e.general.login()
	same(t, fast, general, "ENABLE CONDSTORE", "SELECT INBOX")
	ctx := context.Background()
	if _, _, err := e.st.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 11, Stop: 11}}, store.FlagsAdd, []string{"Brand-New"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 12, Stop: 14}}, store.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 12, Stop: 14}}); err != nil {
		t.Fatal(err)
	}
	cs := fmt.Sprintf(" (CHANGEDSINCE %d)", mid)
	out := same(t, fast, general,
		"FETCH 1:* (FLAGS)"+cs, // expunge found through Changes
		"FETCH 1:* (FLAGS)"+cs, // now pending in the session
		"FETCH 1:* (UID FLAGS)",
		"FETCH 20:* (FLAGS)"+cs, // none of the gone ones asked for
		"UID FETCH 1:* (FLAGS)",
		"NOOP", // the EXPUNGEs
		"UID FETCH 1:* (FLAGS MODSEQ)",
		"UID FETCH 1:* (FLAGS)"+cs,
	)
	for _, i := range []int{0, 1, 2, 4} {
		if !strings.Contains(out[i], "NO [EXPUNGEISSUED]") {
			t.Fatalf("answer %d without EXPUNGEISSUED:\n%s", i, out[i])
		}
	}
	if !strings.Contains(out[0], "Brand-New") || !strings.Contains(out[3], " OK ") {
		t.Fatalf("unexpected answers:\n%s\n%s", out[0], out[3])
	}
	if !strings.Contains(out[5], "* 9 EXPUNGE\r\n") || strings.Contains(out[6], "UID 12 ") || strings.Contains(out[6], "EXPUNGEISSUED") {
		t.Fatalf("the EXPUNGEs and after:\n%s\n%s", out[5], out[6])
	}
}

// TestFetchFlagsLongListing: a listing far beyond one write batch, with a
// keyword first met deep inside it, comes out as the general path's: the
// FLAGS announcing the keyword right before the message that has it.
func TestFetchFlagsLongListing(t *testing.T) {
	e := newTwinEnv(t)
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		e.deliver("Seed", testMessage(i, "seed"))
	}
	seed, err := e.st.GetMailbox(ctx, e.acct.ID, "Seed")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := e.st.GetMailbox(ctx, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 80; i++ { // 2,000 messages, ~80 KB of FETCH lines
		if _, err := e.st.Copy(ctx, seed.ID, nil, inbox.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []uint32{5, 1500, 1999} {
		kw := fmt.Sprintf("Deep%d", u)
		if _, _, err := e.st.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: u, Stop: u}}, store.FlagsAdd, []string{kw, `\Seen`}, 0); err != nil {
			t.Fatal(err)
		}
	}
	fast, general := e.login(), e.general.login()
	same(t, fast, general, "EXAMINE INBOX")
	out := same(t, fast, general, "UID FETCH 1:* (FLAGS)", "FETCH 1:* (UID FLAGS MODSEQ)")
	if n := strings.Count(out[0], " FETCH ("); n != 2000 {
		t.Fatalf("%d FETCH lines", n)
	}
	want := "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $Junk $NotJunk Deep5 Deep1500)\r\n" +
		"* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n* 1500 FETCH (UID 1500 FLAGS (Deep1500 \\Seen \\Recent))\r\n"
	if !strings.Contains(out[0], want) {
		t.Fatalf("FLAGS not right before the message with the new keyword")
	}
}
