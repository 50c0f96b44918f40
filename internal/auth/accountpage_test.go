package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"pochta/internal/store"
)

// TestAccountPagesRefuseAppPasswords: the web admin's and the webmail's
// logins (ProtoAdmin, ProtoWebmail) take the account's real password and
// no app password, limited or not, which still open the mail protocols;
// a real password shaped like an app password still works there.
func TestAccountPagesRefuseAppPasswords(t *testing.T) {
	e := newCacheEnv(t, Options{FailureDelay: time.Millisecond, MaxFailureDelay: 2 * time.Millisecond})
	e.a.opts.AppPasswords = e.st
	ctx := context.Background()
	kate, err := e.st.GetAccount(ctx, "kate@example.test")
	if err != nil {
		t.Fatal(err)
	}
	add := func(name string, protos ...string) string {
		secret := GenerateAppPassword()
		if _, err := e.st.AddAppPassword(ctx, store.AppPassword{AccountID: kate.ID, Name: name, Hash: AppPasswordHash(secret), Protocols: protos}); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	all, jmap := add("any"), add("jmap", ProtoJMAP)
	try := func(proto, pass string, want bool) {
		t.Helper()
		_, err := e.a.For(proto).Login(ctx, "kate@example.test", pass, testIP)
		if want && err != nil || !want && !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s login with %q: %v, want ok=%v", proto, pass, err, want)
		}
	}
	for _, page := range []string{ProtoAdmin, ProtoWebmail} {
		try(page, all, false)
		try(page, jmap, false)
		try(page, "pw", true)
	}
	try(ProtoIMAP, all, true)
	try(ProtoJMAP, jmap, true)

	// A real password of the app passwords' shape is a real password.
	shaped := GenerateAppPassword()
	h, err := Hash(shaped)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetPasswordHash(ctx, "kate@example.test", h); err != nil {
		t.Fatal(err)
	}
	try(ProtoWebmail, shaped, true)
	try(ProtoAdmin, shaped, true)
}
