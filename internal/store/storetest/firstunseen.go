package storetest

import (
	"fmt"
	"testing"

	"pochta/internal/store"
)

// testFirstUnseen: FirstUnseen follows \Seen through delivery, STORE,
// expunge, copy and move, per mailbox.
func testFirstUnseen(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	first := func(mb int64, want uint32) {
		t.Helper()
		got, err := e.s.FirstUnseen(e.ctx, mb)
		e.must(err)
		if got != want {
			t.Fatalf("FirstUnseen = %d, want %d", got, want)
		}
	}
	first(inbox.ID, 0)
	for i := 1; i <= 5; i++ {
		var fl []string
		if i <= 2 {
			fl = []string{`\Seen`}
		}
		e.deliver(a.ID, "", msg(fmt.Sprint("u", i), "x"), fl...)
	}
	first(inbox.ID, 3)
	_, _, err := e.s.SetFlags(e.ctx, inbox.ID, store.UIDSet{{Start: 3, Stop: 4}}, store.FlagsAdd, []string{`\Seen`}, 0)
	e.must(err)
	first(inbox.ID, 5)
	_, _, err = e.s.SetFlags(e.ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}}, store.FlagsReplace, []string{`\Flagged`}, 0)
	e.must(err)
	first(inbox.ID, 1)
	_, _, err = e.s.SetFlags(e.ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}}, store.FlagsAdd, []string{`\Deleted`}, 0)
	e.must(err)
	_, err = e.s.Expunge(e.ctx, inbox.ID, nil)
	e.must(err)
	first(inbox.ID, 5)

	arch, err := e.s.CreateMailbox(e.ctx, a.ID, "Kept", "")
	e.must(err)
	_, err = e.s.Copy(e.ctx, inbox.ID, store.UIDSet{{Start: 2, Stop: 3}}, arch.ID)
	e.must(err)
	first(arch.ID, 0)
	_, err = e.s.Move(e.ctx, inbox.ID, store.UIDSet{{Start: 5, Stop: 5}}, arch.ID)
	e.must(err)
	first(arch.ID, 3)
	first(inbox.ID, 0)
	_, err = e.s.FirstUnseen(e.ctx, 987654)
	e.wantErr(err, store.ErrNotFound)
}
