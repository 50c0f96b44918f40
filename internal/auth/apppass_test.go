package auth

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"pochta/internal/store"
)

func TestGenerateAppPassword(t *testing.T) {
	shape := regexp.MustCompile(`^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$`)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		p := GenerateAppPassword()
		if !shape.MatchString(p) || seen[p] {
			t.Fatalf("app password %q (repeated: %v)", p, seen[p])
		}
		seen[p] = true
		if AppPasswordHash(p) == "" {
			t.Fatalf("%q not recognised as an app password", p)
		}
	}
}

func TestAppPasswordHash(t *testing.T) {
	h := AppPasswordHash("abcd-efgh-ijkl-mn01")
	// SHA-256("abcdefghijklmn01"), computed with sha256sum.
	if h != "52adb84373df67af926cd96467cfbe52783faf350a3076651d802ba6fdab0192" {
		t.Fatalf("hash %q", h)
	}
	for _, same := range []string{"ABCD-EFGH-IJKL-MN01", "abcd efgh ijkl mn01", "abcdefghijklmn01"} {
		if AppPasswordHash(same) != h {
			t.Fatalf("%q hashes differently", same)
		}
	}
	for _, not := range []string{"", "abcd-efgh-ijkl-mn0", "abcd-efgh-ijkl-mn012", "abcd-efgh-ijkl-mn0!", "pw", "abcd-efgh-ijkl-mn0é"} {
		if AppPasswordHash(not) != "" {
			t.Fatalf("%q taken for an app password", not)
		}
	}
}

// TestLoginAppPassword: an app password logs in without an argon2id run,
// only on its protocols; a revoked one fails; an account that refuses its
// main password takes only app passwords.
func TestLoginAppPassword(t *testing.T) {
	e := newCacheEnv(t, Options{})
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
	all := add("any")
	mail := add("mail", ProtoIMAP, ProtoPOP3)
	try := func(proto, user, pass string, want bool) {
		t.Helper()
		_, err := e.a.For(proto).Login(ctx, user, pass, testIP)
		if want && err != nil || !want && !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s login %s/%s: %v, want ok=%v", proto, user, pass, err, want)
		}
	}
	try(ProtoIMAP, "kate@example.test", all, true)
	try(ProtoSMTP, "kate@example.test", all, true)
	if n := e.a.hashes(); n != 0 {
		t.Fatalf("app password logins computed %d argon2id hashes", n)
	}
	try(ProtoIMAP, "kate@example.test", mail, true)
	try(ProtoPOP3, "kate@example.test", strings.ToUpper(strings.ReplaceAll(mail, "-", " ")), true)
	try(ProtoSMTP, "kate@example.test", mail, false)
	// Login without a protocol takes only unlimited app passwords.
	if _, err := e.a.Login(ctx, "kate@example.test", mail, testIP); !errors.Is(err, ErrInvalid) {
		t.Fatalf("protocol-limited app password accepted without a protocol: %v", err)
	}
	// Someone else's app password opens nothing.
	try(ProtoIMAP, "lena@example.test", all, false)
	try(ProtoIMAP, "kate@example.test", "pw", true)

	if err := e.st.RemoveAppPassword(ctx, kate.ID, "any"); err != nil {
		t.Fatal(err)
	}
	try(ProtoIMAP, "kate@example.test", all, false)

	if err := e.st.SetMainPasswordRefused(ctx, kate.ID, true); err != nil {
		t.Fatal(err)
	}
	try(ProtoIMAP, "kate@example.test", "pw", false)
	try(ProtoIMAP, "kate@example.test", mail, true)
	try(ProtoIMAP, "lena@example.test", "pw", true)
	if err := e.st.SetMainPasswordRefused(ctx, kate.ID, false); err != nil {
		t.Fatal(err)
	}
	try(ProtoIMAP, "kate@example.test", "pw", true)
}

// FuzzAppPasswordHash: whatever a client sends as a password, the app
// password form is "" or a SHA-256 in hex, and does not depend on case,
// spaces or dashes.
func FuzzAppPasswordHash(f *testing.F) {
	for _, s := range []string{"abcd-efgh-ijkl-mn01", "ABCD EFGH IJKL MN01", "pw", "", "----------------", "abcdefghijklmnop-", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := AppPasswordHash(s)
		if h == "" {
			return
		}
		if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
			t.Fatalf("hash %q", h)
		}
		if AppPasswordHash(strings.ToUpper(s)) != h || AppPasswordHash(strings.ReplaceAll(s, "-", "")) != h {
			t.Fatalf("%q: hash depends on case or dashes", s)
		}
	})
}

// BenchmarkLoginAppPassword compares a login with an app password (one
// indexed lookup) with one by the main password (an argon2id run; the
// cache is off).
func BenchmarkLoginAppPassword(b *testing.B) {
	e := newCacheEnv(b, Options{})
	e.a.opts.AppPasswords = e.st
	ctx := context.Background()
	kate, _ := e.st.GetAccount(ctx, "kate@example.test")
	secret := GenerateAppPassword()
	if _, err := e.st.AddAppPassword(ctx, store.AppPassword{AccountID: kate.ID, Name: "bench", Hash: AppPasswordHash(secret)}); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, pw string }{{"app", secret}, {"main", "pw"}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := e.a.For(ProtoIMAP).Login(ctx, "kate@example.test", c.pw, testIP); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
