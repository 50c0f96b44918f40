package storetest

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"pochta/internal/store"
)

// testFlagList: MessageFlags lists the same UIDs, modseqs and flags as
// Messages, for every kind of set, with holes, keywords and CHANGEDSINCE,
// and keeps Messages' error rules.
func testFlagList(t *testing.T, e *env) {
	fl, ok := e.s.(store.FlagLister)
	if !ok {
		t.Fatal("the backend does not implement store.FlagLister (FETCH FLAGS)")
	}
	a := e.account("flo@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	for i := 0; i < 12; i++ {
		e.deliver(a.ID, "", msg(fmt.Sprint("f", i), "x"))
	}
	set := func(lo, hi uint32) store.UIDSet { return store.UIDSet{{Start: lo, Stop: hi}} }
	flag := func(s store.UIDSet, flags ...string) {
		_, _, err := e.s.SetFlags(e.ctx, inbox.ID, s, store.FlagsAdd, flags, 0)
		e.must(err)
	}
	flag(set(2, 4), `\Seen`)
	flag(set(3, 3), `$Label1`, `\Flagged`, `Work`)
	flag(set(5, 6), `\Deleted`)
	_, err := e.s.Expunge(e.ctx, inbox.ID, set(5, 6)) // a hole at 5..6
	e.must(err)
	mid := e.status(inbox.ID).HighestModSeq
	flag(set(8, 8), `$Junk`)
	flag(set(11, 11), `\Answered`)

	// want is what Messages says, as "uid/modseq/flags" lines.
	want := func(s store.UIDSet, since uint64) string {
		var b strings.Builder
		for _, m := range e.messages(inbox.ID, s) {
			if m.ModSeq > since {
				fmt.Fprintf(&b, "%d/%d/%s\n", m.UID, m.ModSeq, strings.Join(m.Flags, " "))
			}
		}
		return b.String()
	}
	got := func(s store.UIDSet, since uint64) string {
		t.Helper()
		var b strings.Builder
		e.must(fl.MessageFlags(e.ctx, inbox.ID, s, since, func(uid uint32, modSeq uint64, flags []string) error {
			fmt.Fprintf(&b, "%d/%d/%s\n", uid, modSeq, strings.Join(flags, " "))
			return nil
		}))
		return b.String()
	}
	var many store.UIDSet
	for u := uint32(1); u <= 200; u += 2 {
		many = append(many, store.UIDRange{Start: u, Stop: u})
	}
	for _, c := range []struct {
		name  string
		set   store.UIDSet
		since uint64
	}{
		{"all", nil, 0},
		{"range", set(3, 0), 0},
		{"ranges", store.UIDSet{{Start: 9, Stop: 0}, {Start: 1, Stop: 3}, {Start: 5, Stop: 7}}, 0},
		{"reversed", set(8, 2), 0},
		{"beyond", set(50, 60), 0},
		{"many ranges", many, 0},
		{"changedsince", nil, mid},
		{"changedsince in a range", set(9, 12), mid},
		{"changedsince many ranges", many, mid},
		{"changedsince 1", nil, 1},
	} {
		w, g := want(c.set, c.since), got(c.set, c.since)
		if w != g {
			t.Errorf("%s: MessageFlags\n%s\nMessages\n%s", c.name, g, w)
		}
	}
	if g := got(nil, 0); !strings.Contains(g, "3/") || !strings.Contains(g, "$Label1 Work") || strings.Contains(g, "\n5/") {
		t.Errorf("listing lacks keywords or shows the hole:\n%s", g)
	}
	if g := got(nil, math.MaxUint64); g != "" {
		t.Errorf("CHANGEDSINCE 2^64-1 lists %q", g)
	}
	if g := got(store.UIDSet{}, 0); g != "" {
		t.Errorf("empty set lists %q", g)
	}
	// fn's error stops the listing and is returned.
	stop := errors.New("stop")
	n := 0
	err = fl.MessageFlags(e.ctx, inbox.ID, nil, 0, func(uint32, uint64, []string) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("MessageFlags with failing fn: err %v after %d", err, n)
	}
	none := func(uint32, uint64, []string) error { return nil }
	e.wantErr(fl.MessageFlags(e.ctx, 987654, nil, 0, none), store.ErrNotFound)
	e.wantErr(fl.MessageFlags(e.ctx, 987654, set(1, 5), 7, none), store.ErrNotFound)
	e.wantErr(fl.MessageFlags(e.ctx, 987654, store.UIDSet{}, 0, none), store.ErrNotFound)
}
