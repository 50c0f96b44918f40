package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"pochta/internal/store"
)

// TestMessageFlagsChunks: read in chunks of every small size, MessageFlags
// lists exactly what Messages does: chunk boundaries on holes, within
// ranges, with the bounding-range filter of many ranges, and both ways of
// answering CHANGEDSINCE (the modseq index when few changed, the chunked
// walk otherwise).
func TestMessageFlagsChunks(t *testing.T) {
	ctx := context.Background()
	s, _, inbox := inboxOf(t, 30)
	set := func(lo, hi uint32) store.UIDSet { return store.UIDSet{{Start: lo, Stop: hi}} }
	flag := func(u store.UIDSet, flags ...string) {
		if _, _, err := s.SetFlags(ctx, inbox.ID, u, store.FlagsAdd, flags, 0); err != nil {
			t.Fatal(err)
		}
	}
	flag(set(4, 9), `\Deleted`)
	if _, err := s.Expunge(ctx, inbox.ID, set(4, 9)); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	flag(set(12, 12), `\Seen`, `kw1`)
	flag(set(20, 22), `\Flagged`)
	var many store.UIDSet
	for u := uint32(1); u <= 60; u += 3 {
		many = append(many, store.UIDRange{Start: u, Stop: u + 1})
	}
	want := func(u store.UIDSet, since uint64) string {
		var b strings.Builder
		err := s.Messages(ctx, inbox.ID, u, func(m store.Message) error {
			if m.ModSeq > since {
				fmt.Fprintf(&b, "%d/%d/%s\n", m.UID, m.ModSeq, strings.Join(m.Flags, " "))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for chunk := 1; chunk <= 8; chunk++ {
		for _, c := range []struct {
			name  string
			set   store.UIDSet
			since uint64
		}{
			{"all", nil, 0},
			{"ranges", store.UIDSet{{Start: 2, Stop: 5}, {Start: 10, Stop: 14}, {Start: 28, Stop: 0}}, 0},
			{"many ranges", many, 0},
			{"changedsince", nil, st.HighestModSeq},
			{"changedsince many ranges", many, st.HighestModSeq},
			{"changedsince 1", nil, 1},
		} {
			var b strings.Builder
			err := s.messageFlags(ctx, inbox.ID, c.set, c.since, chunk, func(uid uint32, modSeq uint64, flags []string) error {
				fmt.Fprintf(&b, "%d/%d/%s\n", uid, modSeq, strings.Join(flags, " "))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if w := want(c.set, c.since); b.String() != w {
				t.Errorf("chunk %d, %s: got\n%s\nwant\n%s", chunk, c.name, b.String(), w)
			}
		}
	}
}

// TestFlagListLines: a chunk's lines come out in UID order even if SQLite
// ever concatenated them otherwise, with empty flag lists and keywords.
func TestFlagListLines(t *testing.T) {
	var b strings.Builder
	l := flagList{fn: func(uid uint32, modSeq uint64, flags []string) error {
		fmt.Fprintf(&b, "%d/%d/%s;", uid, modSeq, strings.Join(flags, ","))
		return nil
	}}
	n, last, err := l.lines("7 9 \\Seen kw\n3 4 \n12 15 $Junk", false)
	if err != nil || n != 3 || last != 12 {
		t.Fatalf("lines: %d %d %v", n, last, err)
	}
	if got := b.String(); got != `3/4/;7/9/\Seen,kw;12/15/$Junk;` {
		t.Fatalf("got %s", got)
	}
	if _, _, err := l.lines("x 1 \\Seen", false); err == nil {
		t.Fatal("a bad line passed")
	}
}

// inboxOf opens a store with an account whose INBOX holds n messages,
// UIDs 1..n.
func inboxOf(t *testing.T, n int) (*Store, store.Account, store.Mailbox) {
	t.Helper()
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	a := setupAccount(t, s)
	inbox, err := s.GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("Subject: m%d\r\n\r\nx\r\n", i)
		if _, err := s.Append(ctx, inbox.ID, nil, time.Now(), strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
	}
	return s, a, inbox
}
