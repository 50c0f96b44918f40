package auth

import (
	"context"
	"errors"
	"testing"

	"pochta/internal/store"
)

// TestDisabledAccount: a disabled account is refused with the right
// password (a failed login, counted), by password and by SCRAM; once
// enabled again it logs in; IsAdmin follows the admin flag.
func TestDisabledAccount(t *testing.T) {
	ctx := context.Background()
	e := newCacheEnv(t, Options{})
	e.a.opts.Flags = e.st
	e.a.opts.SCRAM = e.st
	kate, err := e.st.GetAccount(ctx, "kate@example.test")
	if err != nil {
		t.Fatal(err)
	}
	e.login("kate@example.test", "pw", true, 1) // adds kate's SCRAM verifier
	if err := e.st.SetAccountFlags(ctx, kate.ID, store.AccountFlags{Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.Login(ctx, "kate@example.test", "pw", testIP); !errors.Is(err, ErrDisabled) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("disabled account's login: %v", err)
	}
	if e.failures() != 1 {
		t.Fatalf("refused login counted %d failures, want 1", e.failures())
	}
	if _, err := e.scramLogin("kate@example.test", "pw"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("disabled account's SCRAM login: %v", err)
	}
	if _, err := e.a.Login(ctx, "lena@example.test", "pw", testIP); err != nil {
		t.Fatalf("another account: %v", err)
	}
	if admin, err := e.a.IsAdmin(ctx, kate.ID); err != nil || admin {
		t.Fatalf("IsAdmin = %v, %v", admin, err)
	}
	if err := e.st.SetAccountFlags(ctx, kate.ID, store.AccountFlags{Admin: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.Login(ctx, "kate@example.test", "pw", testIP); err != nil {
		t.Fatalf("enabled again: %v", err)
	}
	if _, err := e.scramLogin("kate@example.test", "pw"); err != nil {
		t.Fatalf("enabled again, SCRAM: %v", err)
	}
	if admin, err := e.a.IsAdmin(ctx, kate.ID); err != nil || !admin {
		t.Fatalf("IsAdmin = %v, %v", admin, err)
	}
}
