package storetest

import (
	"errors"
	"testing"

	"pochta/internal/store"
)

// testAccountSources: an account provisioned for a directory user carries
// its source, has every default mailbox and no usable password; the
// store's own accounts have the source "".
func testAccountSources(t *testing.T, e *env) {
	src, ok := e.s.(store.AccountSources)
	if !ok {
		t.Fatalf("%T does not implement store.AccountSources", e.s)
	}
	e.must(e.s.AddDomain(e.ctx, "example.org"))
	own, err := e.s.AddAccount(e.ctx, "own@example.org", "hash")
	e.must(err)
	a, err := src.AddSourcedAccount(e.ctx, "Dir@Example.org", "ldap")
	e.must(err)
	if a.Address != "dir@example.org" || a.ID == 0 || a.ID == own.ID || a.PasswordHash != "" {
		t.Fatalf("AddSourcedAccount = %+v", a)
	}
	got, err := e.s.GetAccount(e.ctx, "dir@example.org")
	e.must(err)
	if got.ID != a.ID || got.PasswordHash != "" {
		t.Fatalf("GetAccount = %+v, want ID %d and no password hash", got, a.ID)
	}
	mbs, err := e.s.ListMailboxes(e.ctx, a.ID)
	e.must(err)
	if len(mbs) != len(store.DefaultMailboxes) {
		t.Fatalf("directory account has %d mailboxes, want %d", len(mbs), len(store.DefaultMailboxes))
	}
	for addr, want := range map[string]string{"dir@example.org": "ldap", "OWN@example.org": ""} {
		s, err := src.AccountSource(e.ctx, addr)
		if err != nil || s != want {
			t.Errorf("AccountSource(%s) = %q, %v; want %q", addr, s, err, want)
		}
	}
	if _, err := src.AccountSource(e.ctx, "nobody@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AccountSource(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := src.AddSourcedAccount(e.ctx, "dir@example.org", "ldap"); !errors.Is(err, store.ErrExists) {
		t.Errorf("second AddSourcedAccount = %v, want ErrExists", err)
	}
	if _, err := src.AddSourcedAccount(e.ctx, "x@unknown.example", "ldap"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddSourcedAccount in an unknown domain = %v, want ErrNotFound", err)
	}
	if _, err := src.AddSourcedAccount(e.ctx, "y@example.org", ""); err == nil {
		t.Error("AddSourcedAccount with an empty source succeeded")
	}
}
