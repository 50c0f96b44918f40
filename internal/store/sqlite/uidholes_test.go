package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	"pochta/internal/store"
)

// TestUIDsFromHoles: a mailbox with holes (expunged at both ends and
// inside, moved out) lists its UIDs from the expunged table, equal to a
// walk over its messages; when the expunged table does not prove the
// answer (a hole not recorded, a recorded UID still present), UIDs walks
// the messages and is still right.
func TestUIDsFromHoles(t *testing.T) {
	ctx := context.Background()
	s, a, inbox := inboxOf(t, 20)
	archive, err := s.CreateMailbox(ctx, a.ID, "Old", "")
	if err != nil {
		t.Fatal(err)
	}
	gone := store.UIDSet{{Start: 1, Stop: 2}, {Start: 5, Stop: 5}, {Start: 9, Stop: 11}, {Start: 20, Stop: 20}}
	if _, _, err := s.SetFlags(ctx, inbox.ID, gone, store.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, inbox.ID, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, inbox.ID, store.UIDSet{{Start: 13, Stop: 13}}, archive.ID); err != nil {
		t.Fatal(err)
	}
	want := []uint32{3, 4, 6, 7, 8, 12, 14, 15, 16, 17, 18, 19}
	check := func(name string, holesOK bool) {
		t.Helper()
		var walked []uint32
		if err := s.Messages(ctx, inbox.ID, nil, func(m store.Message) error {
			walked = append(walked, m.UID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		got, err := s.UIDs(ctx, inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) || !slices.Equal(walked, want) {
			t.Fatalf("%s: UIDs %v, messages %v, want %v", name, got, walked, want)
		}
		tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		fromHoles, ok, err := uidsFromHoles(ctx, tx, inbox.ID, 3, 19, int64(len(want)))
		if err != nil || ok != holesOK || (ok && !slices.Equal(fromHoles, want)) {
			t.Fatalf("%s: uidsFromHoles = %v, %v, %v; want ok %v", name, fromHoles, ok, err, holesOK)
		}
	}
	check("recorded holes", true)
	exec := func(q string) {
		t.Helper()
		if _, err := s.wdb.ExecContext(ctx, q, inbox.ID); err != nil {
			t.Fatal(err)
		}
	}
	// A UID recorded expunged that is still there proves nothing.
	exec("INSERT INTO expunged(mailbox_id, uid, modseq) VALUES(?, 7, 1)")
	check("recorded but present", false)
	exec("DELETE FROM expunged WHERE mailbox_id = ? AND uid = 7")
	// Nor does a hole that was never recorded.
	exec("DELETE FROM expunged WHERE mailbox_id = ? AND uid = 10")
	check("unrecorded hole", false)
}
