package storetest

import (
	"slices"
	"testing"

	"pochta/internal/store"
)

// testAppPasswords: app passwords are added, listed by name, found by
// hash only in their own account, removed, and go with their account; the
// "main password refused" flag is per account.
func testAppPasswords(t *testing.T, e *env) {
	ap, ok := e.s.(store.AppPasswords)
	if !ok {
		t.Fatalf("%T does not implement store.AppPasswords", e.s)
	}
	a := e.account("kate@example.org")
	b := e.account("bob@example.org")

	p1, err := ap.AddAppPassword(e.ctx, store.AppPassword{AccountID: a.ID, Name: "phone", Hash: "h1", Protocols: []string{"IMAP", "smtp"}})
	e.must(err)
	if p1.ID == 0 || p1.Created.IsZero() || !slices.Equal(p1.Protocols, []string{"imap", "smtp"}) {
		t.Fatalf("added %+v", p1)
	}
	_, err = ap.AddAppPassword(e.ctx, store.AppPassword{AccountID: a.ID, Name: "laptop", Hash: "h2"})
	e.must(err)
	_, err = ap.AddAppPassword(e.ctx, store.AppPassword{AccountID: a.ID, Name: "phone", Hash: "h3"})
	e.wantErr(err, store.ErrExists)
	_, err = ap.AddAppPassword(e.ctx, store.AppPassword{AccountID: a.ID, Name: " ", Hash: "h3"})
	e.wantErr(err, store.ErrInvalidName)
	_, err = ap.AddAppPassword(e.ctx, store.AppPassword{AccountID: 999999, Name: "x", Hash: "h3"})
	e.wantErr(err, store.ErrNotFound)
	// The same name in another account is another password.
	_, err = ap.AddAppPassword(e.ctx, store.AppPassword{AccountID: b.ID, Name: "phone", Hash: "hb"})
	e.must(err)

	list, err := ap.AppPasswords(e.ctx, a.ID)
	e.must(err)
	if len(list) != 2 || list[0].Name != "laptop" || list[1].Name != "phone" || list[0].Protocols != nil {
		t.Fatalf("AppPasswords = %+v", list)
	}
	got, err := ap.AppPasswordByHash(e.ctx, a.ID, "h1")
	e.must(err)
	if got.ID != p1.ID || got.Name != "phone" || !slices.Equal(got.Protocols, []string{"imap", "smtp"}) {
		t.Fatalf("AppPasswordByHash = %+v", got)
	}
	_, err = ap.AppPasswordByHash(e.ctx, b.ID, "h1")
	e.wantErr(err, store.ErrNotFound)

	e.must(ap.RemoveAppPassword(e.ctx, a.ID, "phone"))
	e.wantErr(ap.RemoveAppPassword(e.ctx, a.ID, "phone"), store.ErrNotFound)
	_, err = ap.AppPasswordByHash(e.ctx, a.ID, "h1")
	e.wantErr(err, store.ErrNotFound)
	if _, err := ap.AppPasswordByHash(e.ctx, b.ID, "hb"); err != nil {
		t.Fatalf("bob's app password went with kate's: %v", err)
	}

	refused, err := ap.MainPasswordRefused(e.ctx, a.ID)
	e.must(err)
	if refused {
		t.Fatal("a new account refuses its main password")
	}
	e.must(ap.SetMainPasswordRefused(e.ctx, a.ID, true))
	if r, _ := ap.MainPasswordRefused(e.ctx, a.ID); !r {
		t.Fatal("flag not set")
	}
	if r, _ := ap.MainPasswordRefused(e.ctx, b.ID); r {
		t.Fatal("flag set on another account")
	}
	e.must(ap.SetMainPasswordRefused(e.ctx, a.ID, false))
	if r, _ := ap.MainPasswordRefused(e.ctx, a.ID); r {
		t.Fatal("flag not cleared")
	}
	_, err = ap.MainPasswordRefused(e.ctx, 999999)
	e.wantErr(err, store.ErrNotFound)

	// Removing the account removes its app passwords.
	e.must(e.s.RemoveAccount(e.ctx, a.Address))
	list, err = ap.AppPasswords(e.ctx, a.ID)
	e.must(err)
	if len(list) != 0 {
		t.Fatalf("app passwords outlived their account: %+v", list)
	}
}
