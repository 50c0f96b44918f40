package storetest

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"

	"pochta/internal/store"
)

// testServerState: named values are stored, replaced, listed by prefix and
// deleted; AddState lets exactly one of several racing writers create a
// name; bad names and oversized values are refused.
func testServerState(t *testing.T, e *env) {
	ss, ok := e.s.(store.ServerState)
	if !ok {
		t.Fatalf("%T does not implement store.ServerState", e.s)
	}
	_, err := ss.GetState(e.ctx, "dkim/example.org/sel.ed25519.key")
	e.wantErr(err, store.ErrNotFound)
	key := []byte("-----BEGIN PRIVATE KEY-----\x00\xff binary\n")
	e.must(ss.PutState(e.ctx, "dkim/example.org/sel.ed25519.key", key))
	e.must(ss.PutState(e.ctx, "dkim/example.net/a.rsa.key", []byte("rsa")))
	e.must(ss.PutState(e.ctx, "dkimx", []byte("not under dkim/")))
	e.must(ss.PutState(e.ctx, "srs/secret", nil))
	got, err := ss.GetState(e.ctx, "dkim/example.org/sel.ed25519.key")
	e.must(err)
	if !bytes.Equal(got, key) {
		t.Fatalf("GetState = %q, want %q", got, key)
	}
	if got, err := ss.GetState(e.ctx, "srs/secret"); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty value: %q, %v", got, err)
	}
	e.must(ss.PutState(e.ctx, "dkim/example.net/a.rsa.key", []byte("rsa2")))
	if got, _ := ss.GetState(e.ctx, "dkim/example.net/a.rsa.key"); string(got) != "rsa2" {
		t.Fatalf("PutState did not replace: %q", got)
	}
	list, err := ss.ListState(e.ctx, "dkim/")
	e.must(err)
	if want := []string{"dkim/example.net/a.rsa.key", "dkim/example.org/sel.ed25519.key"}; !slices.Equal(list, want) {
		t.Fatalf("ListState(dkim/) = %q, want %q", list, want)
	}
	all, err := ss.ListState(e.ctx, "")
	e.must(err)
	if len(all) != 4 {
		t.Fatalf("ListState(\"\") = %q, want 4 names", all)
	}
	// A prefix with LIKE's wildcards matches only itself.
	if l, _ := ss.ListState(e.ctx, "dkim_"); len(l) != 0 {
		t.Fatalf("ListState(dkim_) = %q", l)
	}
	e.wantErr(ss.AddState(e.ctx, "srs/secret", []byte("other")), store.ErrExists)
	e.must(ss.DeleteState(e.ctx, "srs/secret"))
	e.must(ss.DeleteState(e.ctx, "srs/secret"))
	_, err = ss.GetState(e.ctx, "srs/secret")
	e.wantErr(err, store.ErrNotFound)

	// Ten writers race to claim one name: exactly one wins, and its value
	// is what is stored.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []byte
	wins := 0
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := []byte{byte('a' + i)}
			err := ss.AddState(e.ctx, "tlsrpt/sent/2026-12-01", v)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
				won = v
			case !errors.Is(err, store.ErrExists):
				t.Errorf("AddState: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d writers claimed the name, want 1", wins)
	}
	if got, _ := ss.GetState(e.ctx, "tlsrpt/sent/2026-12-01"); !bytes.Equal(got, won) {
		t.Fatalf("claimed value %q, winner wrote %q", got, won)
	}

	e.wantErr(ss.PutState(e.ctx, "", nil), store.ErrInvalidName)
	e.wantErr(ss.PutState(e.ctx, "a\nb", nil), store.ErrInvalidName)
	e.wantErr(ss.PutState(e.ctx, string(make([]byte, 256)), nil), store.ErrInvalidName)
	e.wantErr(ss.PutState(e.ctx, "big", make([]byte, 1<<20+1)), store.ErrInvalidName)
}
