package storetest

import (
	"testing"

	"pochta/internal/store"
)

// testAccountFlags: flags start cleared, are set per account, are
// replaced as a whole, are refused for unknown accounts and go with
// their account.
func testAccountFlags(t *testing.T, e *env) {
	fs, ok := e.s.(store.AccountFlagStore)
	if !ok {
		t.Fatalf("%T does not implement store.AccountFlagStore", e.s)
	}
	a := e.account("kate@example.org")
	b := e.account("bob@example.org")
	if f, err := fs.AccountFlags(e.ctx, a.ID); err != nil || f != (store.AccountFlags{}) {
		t.Fatalf("new account's flags = %+v, %v", f, err)
	}
	e.must(fs.SetAccountFlags(e.ctx, a.ID, store.AccountFlags{Admin: true}))
	e.must(fs.SetAccountFlags(e.ctx, b.ID, store.AccountFlags{Disabled: true}))
	if f, err := fs.AccountFlags(e.ctx, a.ID); err != nil || f != (store.AccountFlags{Admin: true}) {
		t.Fatalf("kate's flags = %+v, %v", f, err)
	}
	if f, err := fs.AccountFlags(e.ctx, b.ID); err != nil || f != (store.AccountFlags{Disabled: true}) {
		t.Fatalf("bob's flags = %+v, %v", f, err)
	}
	e.must(fs.SetAccountFlags(e.ctx, a.ID, store.AccountFlags{Disabled: true}))
	if f, err := fs.AccountFlags(e.ctx, a.ID); err != nil || f != (store.AccountFlags{Disabled: true}) {
		t.Fatalf("kate's flags after replacing = %+v, %v", f, err)
	}
	_, err := fs.AccountFlags(e.ctx, 987654)
	e.wantErr(err, store.ErrNotFound)
	e.wantErr(fs.SetAccountFlags(e.ctx, 987654, store.AccountFlags{Admin: true}), store.ErrNotFound)

	// A removed and re-added account starts without flags.
	e.must(e.s.RemoveAccount(e.ctx, b.Address))
	_, err = fs.AccountFlags(e.ctx, b.ID)
	e.wantErr(err, store.ErrNotFound)
	b2 := e.account("bob@example.org")
	if f, err := fs.AccountFlags(e.ctx, b2.ID); err != nil || f != (store.AccountFlags{}) {
		t.Fatalf("re-added account's flags = %+v, %v", f, err)
	}
}
