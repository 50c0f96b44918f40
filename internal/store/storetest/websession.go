package storetest

import (
	"testing"
	"time"

	"pochta/internal/store"
)

// testWebSessions: webmail sessions are found by id until they expire,
// removed one by one or all of an account's at once (and only that
// account's), and go with their account; settings default to zero and
// are replaced whole.
func testWebSessions(t *testing.T, e *env) {
	ws, ok := e.s.(store.WebSessions)
	if !ok {
		t.Fatalf("%T does not implement store.WebSessions", e.s)
	}
	a := e.account("kate@example.org")
	b := e.account("bob@example.org")
	now := time.Now()
	add := func(id string, acct int64, expires time.Time) {
		t.Helper()
		e.must(ws.AddWebSession(e.ctx, store.WebSession{ID: id, AccountID: acct, CSRF: "c-" + id, Created: now, Expires: expires}))
	}
	add("s1", a.ID, now.Add(time.Hour))
	add("s2", a.ID, now.Add(time.Hour))
	add("old", a.ID, now.Add(-time.Second))
	add("b1", b.ID, now.Add(time.Hour))
	e.wantErr(ws.AddWebSession(e.ctx, store.WebSession{ID: "x", AccountID: 999999, CSRF: "c", Expires: now.Add(time.Hour)}), store.ErrNotFound)
	e.wantErr(ws.AddWebSession(e.ctx, store.WebSession{ID: "", AccountID: a.ID, CSRF: "c"}), store.ErrInvalidName)

	got, err := ws.WebSession(e.ctx, "s1")
	e.must(err)
	if got.AccountID != a.ID || got.CSRF != "c-s1" || got.Expires.Unix() != now.Add(time.Hour).Unix() {
		t.Fatalf("WebSession = %+v", got)
	}
	_, err = ws.WebSession(e.ctx, "old")
	e.wantErr(err, store.ErrNotFound)
	_, err = ws.WebSession(e.ctx, "nope")
	e.wantErr(err, store.ErrNotFound)

	e.must(ws.RemoveWebSession(e.ctx, "s1"))
	_, err = ws.WebSession(e.ctx, "s1")
	e.wantErr(err, store.ErrNotFound)
	if _, err := ws.WebSession(e.ctx, "s2"); err != nil {
		t.Fatalf("s2 went with s1: %v", err)
	}
	n, err := ws.RemoveWebSessions(e.ctx, a.ID)
	e.must(err)
	if n != 2 { // s2 and the expired one
		t.Fatalf("RemoveWebSessions removed %d, want 2", n)
	}
	_, err = ws.WebSession(e.ctx, "s2")
	e.wantErr(err, store.ErrNotFound)
	if _, err := ws.WebSession(e.ctx, "b1"); err != nil {
		t.Fatalf("bob's session went with kate's: %v", err)
	}

	set, err := ws.WebSettings(e.ctx, a.ID)
	e.must(err)
	if set != (store.WebSettings{}) {
		t.Fatalf("new account's settings %+v", set)
	}
	want := store.WebSettings{TOTPSecret: "JBSWY3DPEHPK3PXP", Signature: "-- \nKate", Language: "ru"}
	e.must(ws.SetWebSettings(e.ctx, a.ID, want))
	e.must(ws.SetWebSettings(e.ctx, a.ID, want))
	if set, _ := ws.WebSettings(e.ctx, a.ID); set != want {
		t.Fatalf("settings %+v, want %+v", set, want)
	}
	if set, _ := ws.WebSettings(e.ctx, b.ID); set != (store.WebSettings{}) {
		t.Fatalf("bob got kate's settings %+v", set)
	}
	e.wantErr(ws.SetWebSettings(e.ctx, 999999, want), store.ErrNotFound)

	// Removing the account removes its sessions and settings.
	add("s3", a.ID, now.Add(time.Hour))
	e.must(e.s.RemoveAccount(e.ctx, a.Address))
	_, err = ws.WebSession(e.ctx, "s3")
	e.wantErr(err, store.ErrNotFound)
	if set, _ := ws.WebSettings(e.ctx, a.ID); set != (store.WebSettings{}) {
		t.Fatalf("settings outlived the account: %+v", set)
	}
}
