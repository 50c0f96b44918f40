package storetest

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"pochta/internal/store"
)

// testImporter: imported messages keep their UIDs (with gaps), flags,
// dates and modseqs, ImportExpunged's UIDs are vanished (QRESYNC), and
// SetMailboxState sets what IMAP clients cache.
func testImporter(t *testing.T, e *env) {
	im, ok := e.s.(store.Importer)
	if !ok {
		t.Fatal("the backend does not implement store.Importer (pochta store migrate)")
	}
	a := e.account("imp@example.org")
	mb := e.mailbox(a.ID, "INBOX")
	date := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	in := []store.Message{
		{UID: 3, ModSeq: 40, Flags: []string{`\Seen`, "$label1"}, InternalDate: date},
		{UID: 7, ModSeq: 12, Flags: nil, InternalDate: date.Add(time.Hour)},
		{UID: 100, ModSeq: 41, Flags: []string{`\Deleted`}, InternalDate: date.Add(2 * time.Hour)},
	}
	for _, m := range in {
		e.must(im.ImportMessage(e.ctx, mb.ID, m, strings.NewReader(msg("s", fmt.Sprint("body ", m.UID)))))
	}
	e.must(im.ImportExpunged(e.ctx, mb.ID, map[uint32]uint64{1: 30, 2: 55, 50: 55}))
	mb.UIDValidity, mb.UIDNext, mb.HighestModSeq, mb.RecentWatermark = 123456, 150, 55, 100
	e.must(im.SetMailboxState(e.ctx, mb))

	var got []string
	e.must(e.s.Messages(e.ctx, mb.ID, nil, func(m store.Message) error {
		got = append(got, fmt.Sprintf("%d %d %v %s", m.UID, m.ModSeq, m.Flags, m.InternalDate.UTC().Format(time.RFC3339)))
		return nil
	}))
	want := []string{
		"3 40 [$label1 \\Seen] 2025-03-04T05:06:07Z",
		"7 12 [] 2025-03-04T06:06:07Z",
		"100 41 [\\Deleted] 2025-03-04T07:06:07Z",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages:\n got %q\nwant %q", got, want)
	}
	r, err := e.s.Open(e.ctx, mb.ID, 7)
	e.must(err)
	body, err := io.ReadAll(r)
	r.Close()
	e.must(err)
	if !strings.Contains(string(body), "body 7") {
		t.Fatalf("content of UID 7: %q", body)
	}
	st, err := e.s.Status(e.ctx, mb.ID)
	e.must(err)
	if st.UIDValidity != 123456 || st.UIDNext != 150 || st.HighestModSeq != 55 || st.Messages != 3 || st.Unseen != 2 || st.Deleted != 1 || st.Recent != 0 {
		t.Fatalf("status after import: %+v", st)
	}
	if _, vanished, err := e.s.Changes(e.ctx, mb.ID, 54); err != nil || fmt.Sprint(vanished) != "[2 50]" {
		t.Fatalf("vanished since 54: %v, %v", vanished, err)
	}
	if ex, err := im.Expunged(e.ctx, mb.ID); err != nil || fmt.Sprint(ex) != "map[1:30 2:55 50:55]" {
		t.Fatalf("Expunged: %v, %v", ex, err)
	}
	if _, vanished, err := e.s.Changes(e.ctx, mb.ID, 55); err != nil || len(vanished) != 0 {
		t.Fatalf("vanished since 55: %v, %v", vanished, err)
	}
	// A message appended afterwards continues after the imported state.
	m, err := e.s.Append(e.ctx, mb.ID, nil, time.Time{}, strings.NewReader(msg("n", "new")))
	e.must(err)
	if m.UID != 150 || m.ModSeq != 56 {
		t.Fatalf("append after import: uid %d modseq %d, want 150 56", m.UID, m.ModSeq)
	}
	// A UID below UIDNEXT is refused.
	if err := im.ImportMessage(e.ctx, mb.ID, store.Message{UID: 5, ModSeq: 1}, strings.NewReader(msg("x", "y"))); err == nil {
		t.Fatal("importing UID 5 below UIDNEXT 151 succeeded")
	}
}
