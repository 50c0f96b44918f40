package storetest

import (
	"errors"
	"testing"

	"pochta/internal/store"
)

// testSCRAMKeys: a SCRAM verifier is stored beside the password hash it
// was made with and vanishes when the hash changes or the account goes.
func testSCRAMKeys(t *testing.T, e *env) {
	ks, ok := e.s.(store.SCRAMStore)
	if !ok {
		t.Fatal("the store does not implement store.SCRAMStore")
	}
	a := e.account("kate@example.org")
	keysOf := func(addr string) string {
		t.Helper()
		got, k, err := ks.SCRAMKeys(e.ctx, addr)
		e.must(err)
		if got.ID != a.ID || got.PasswordHash != a.PasswordHash {
			t.Fatalf("SCRAMKeys returned account %+v, want %+v", got, a)
		}
		return k
	}
	if k := keysOf("kate@example.org"); k != "" {
		t.Fatalf("new account has keys %q", k)
	}
	e.must(ks.SetSCRAMKeys(e.ctx, "Kate@Example.org", a.PasswordHash, "{SCRAM-SHA-256}one"))
	if k := keysOf("KATE@example.org"); k != "{SCRAM-SHA-256}one" {
		t.Fatalf("keys = %q", k)
	}
	e.must(ks.SetSCRAMKeys(e.ctx, "kate@example.org", a.PasswordHash, "{SCRAM-SHA-256}two"))
	if k := keysOf("kate@example.org"); k != "{SCRAM-SHA-256}two" {
		t.Fatalf("replaced keys = %q", k)
	}
	// Keys made for an older password are refused and change nothing.
	if err := ks.SetSCRAMKeys(e.ctx, "kate@example.org", "old-hash", "{SCRAM-SHA-256}stale"); !errors.Is(err, store.ErrModifiedSince) {
		t.Fatalf("keys for another hash: %v", err)
	}
	// A new password hash, set without keys, drops the old keys.
	e.must(e.s.SetPasswordHash(e.ctx, "kate@example.org", "new-hash"))
	a.PasswordHash = "new-hash"
	if k := keysOf("kate@example.org"); k != "" {
		t.Fatalf("keys survived a password change: %q", k)
	}
	e.must(ks.SetSCRAMKeys(e.ctx, "kate@example.org", "new-hash", "{SCRAM-SHA-256}three"))
	if k := keysOf("kate@example.org"); k != "{SCRAM-SHA-256}three" {
		t.Fatalf("keys = %q", k)
	}
	if _, _, err := ks.SCRAMKeys(e.ctx, "nobody@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SCRAMKeys of unknown account: %v", err)
	}
	if err := ks.SetSCRAMKeys(e.ctx, "nobody@example.org", "x", "y"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetSCRAMKeys of unknown account: %v", err)
	}
	// Removed and re-created: the new account starts without keys.
	e.must(e.s.RemoveAccount(e.ctx, "kate@example.org"))
	a = e.account("kate@example.org")
	a2, k, err := ks.SCRAMKeys(e.ctx, "kate@example.org")
	e.must(err)
	if k != "" || a2.ID != a.ID {
		t.Fatalf("re-created account: keys %q", k)
	}
}
