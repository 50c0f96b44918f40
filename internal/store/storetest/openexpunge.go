package storetest

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"pochta/internal/store"
)

// testOpenWhileExpunging holds Open to what IMAP FETCH relies on while
// other sessions expunge (RFC 2180 §4.1): a message that is gone is
// ErrNotFound, never an empty or partial content, and a reader opened
// before the expunge still yields the whole content.
func testOpenWhileExpunging(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	content := func(i uint32) string {
		return msg(fmt.Sprint("open", i), fmt.Sprintf("%0*d", 2000+int(i)*37, i))
	}
	first := e.deliver(a.ID, "", content(1))
	r, err := e.s.Open(e.ctx, inbox.ID, first.UID)
	e.must(err)
	_, _, err = e.s.SetFlags(e.ctx, inbox.ID, store.UIDSet{{Start: first.UID, Stop: first.UID}}, store.FlagsAdd, []string{`\Deleted`}, 0)
	e.must(err)
	_, err = e.s.Expunge(e.ctx, inbox.ID, nil)
	e.must(err)
	b, err := io.ReadAll(r)
	r.Close()
	e.must(err)
	if string(b) != content(first.UID) {
		t.Fatalf("reader opened before the expunge got %d octets, want %d", len(b), len(content(first.UID)))
	}
	_, err = e.s.Open(e.ctx, inbox.ID, first.UID)
	e.wantErr(err, store.ErrNotFound)

	// One writer delivers and expunges; readers open whatever was
	// delivered, racing the expunges.
	const n = 60
	var delivered atomic.Uint32
	var done atomic.Bool
	delivered.Store(first.UID)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(seed, 1))
			// Mostly the newest message's predecessor: the one the
			// writer expunges next.
			for i := 0; i < 20000 && !done.Load(); i++ {
				uid := delivered.Load() - uint32(rnd.IntN(2))
				r, err := e.s.Open(e.ctx, inbox.ID, uid)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(r)
				r.Close()
				if err != nil || string(b) != content(uid) {
					errs <- fmt.Errorf("Open(%d) read %d octets (err %v), want %d", uid, len(b), err, len(content(uid)))
					return
				}
			}
		}(uint64(g))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		for i := 0; i < n; i++ {
			d, err := e.s.Deliver(e.ctx, strings.NewReader(content(delivered.Load()+1)), []store.Target{{AccountID: a.ID}})
			if err == nil && d[0].UID != delivered.Load()+1 {
				err = fmt.Errorf("delivered UID %d, want %d", d[0].UID, delivered.Load()+1)
			}
			if err != nil {
				errs <- err
				return
			}
			delivered.Store(d[0].UID)
			if u := d[0].UID - 1; u > first.UID {
				set := store.UIDSet{{Start: u, Stop: u}}
				if _, _, err := e.s.SetFlags(e.ctx, inbox.ID, set, store.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
					errs <- err
					return
				}
				if _, err := e.s.Expunge(e.ctx, inbox.ID, set); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
