package srs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// at1700000000 is 2023-11-14: day 19675, 219 modulo 1024, stamp "G3".
var at1700000000 = time.Unix(1700000000, 0)

func newAt(t *testing.T, when time.Time, secrets ...string) *Rewriter {
	t.Helper()
	var ss [][]byte
	for _, s := range secrets {
		ss = append(ss, []byte(s))
	}
	r, err := New(ss, 0, func() time.Time { return when })
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestKnownAnswers: vectors computed independently (Python's hmac, hashlib
// and base64 following libsrs2's srs_hash_create and srs_timestamp_create:
// HMAC-SHA1 over the lower-cased fields, base64, first 4 characters; the
// day number modulo 1024 in base32).
func TestKnownAnswers(t *testing.T) {
	r := newAt(t, at1700000000, "tHiSiSaSeCrEt")
	for _, c := range []struct{ sender, want string }{
		{"Alice@example.org", "SRS0=hMFN=G3=example.org=Alice@forward.test"},
		// An SRS0 address of another forwarder is wrapped as SRS1.
		{"SRS0=ABCD=G3=example.org=alice@hop1.test", "SRS1=MFBO=hop1.test==ABCD=G3=example.org=alice@forward.test"},
		// An SRS1 address keeps its first forwarder and is re-signed.
		{"SRS1=zzzz=hop1.test==ABCD=G3=example.org=alice@hop2.test", "SRS1=MFBO=hop1.test==ABCD=G3=example.org=alice@forward.test"},
	} {
		got, err := r.Forward(c.sender, "forward.test")
		if err != nil || got != c.want {
			t.Errorf("Forward(%q) = %q, %v; want %q", c.sender, got, err, c.want)
		}
	}
	for _, c := range []struct{ addr, want string }{
		{"SRS0=hMFN=G3=example.org=Alice@forward.test", "Alice@example.org"},
		{"srs0=hmfn=g3=example.org=alice@forward.test", "alice@example.org"}, // case changed on the way
		{"SRS1=MFBO=hop1.test==ABCD=G3=example.org=alice@forward.test", "SRS0=ABCD=G3=example.org=alice@hop1.test"},
	} {
		got, err := r.Reverse(c.addr)
		if err != nil || got != c.want {
			t.Errorf("Reverse(%q) = %q, %v; want %q", c.addr, got, err, c.want)
		}
	}
}

func TestRoundTripAndRefusals(t *testing.T) {
	r := newAt(t, at1700000000, "s1")
	fwd, err := r.Forward("bob+tag=x@sender.test", "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if back, err := r.Reverse(fwd); err != nil || back != "bob+tag=x@sender.test" {
		t.Fatalf("Reverse(%q) = %q, %v", fwd, back, err)
	}
	local := fwd[:strings.IndexByte(fwd, '@')]
	cases := []struct {
		name, addr string
		want       error
	}{
		{"other secret", "SRS0=hMFN=G3=example.org=Alice@forward.test", ErrForged},
		{"changed user", strings.Replace(fwd, "bob", "eve", 1), ErrForged},
		{"changed host", strings.Replace(fwd, "sender.test", "evil.test", 1), ErrForged},
		{"short hash", "SRS0=abc=G3=a.test=b@example.test", ErrForged},
		{"missing user", "SRS0=abcd=G3=a.test@example.test", ErrSyntax},
		{"bad stamp", "SRS0=abcd=G!=a.test=b@example.test", ErrForged},
		{"plain", "bob@example.test", ErrNotSRS},
		{"no domain", local, ErrNotSRS},
	}
	for _, c := range cases {
		if _, err := r.Reverse(c.addr); !errors.Is(err, c.want) {
			t.Errorf("%s: Reverse(%q) = %v, want %v", c.name, c.addr, err, c.want)
		}
	}
	if _, err := r.Forward("", "example.test"); err == nil {
		t.Error("the null sender was rewritten")
	}
}

// TestTimestampWindow: valid for DefaultMaxAge days, refused after, and
// across the 1024-day wrap of the stamp.
func TestTimestampWindow(t *testing.T) {
	for _, start := range []time.Time{at1700000000, time.Unix(1023*86400+3600, 0)} { // the second is the last day of a cycle
		fwd, err := newAt(t, start, "k").Forward("a@b.test", "example.test")
		if err != nil {
			t.Fatal(err)
		}
		for days, want := range map[int]error{0: nil, 1: nil, DefaultMaxAge: nil, DefaultMaxAge + 1: ErrExpired, 500: ErrExpired} {
			_, err := newAt(t, start.Add(time.Duration(days)*24*time.Hour), "k").Reverse(fwd)
			if !errors.Is(err, want) && !(want == nil && err == nil) {
				t.Errorf("start %v, %d days later: %v, want %v", start, days, err, want)
			}
		}
	}
}

// TestSecretRotation: the first secret signs, every one verifies.
func TestSecretRotation(t *testing.T) {
	old := newAt(t, at1700000000, "old")
	fwd, _ := old.Forward("a@b.test", "example.test")
	rotated := newAt(t, at1700000000, "new", "old")
	if _, err := rotated.Reverse(fwd); err != nil {
		t.Fatalf("address signed with the old secret refused: %v", err)
	}
	fresh, _ := rotated.Forward("a@b.test", "example.test")
	if _, err := old.Reverse(fresh); !errors.Is(err, ErrForged) {
		t.Fatalf("new secret's address accepted by the old one: %v", err)
	}
}

func TestLoadSecretsCreatesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srs", "secret")
	a, err := LoadSecrets(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", st, err)
	}
	b, err := LoadSecrets(path)
	if err != nil || len(a) != 1 || string(a[0]) != string(b[0]) || len(a[0]) < 40 {
		t.Fatalf("secret changed or too short: %q %q %v", a, b, err)
	}
	os.WriteFile(path, []byte("\n  \n"), 0o600)
	if _, err := LoadSecrets(path); err == nil {
		t.Fatal("an empty secret file was accepted")
	}
}

// FuzzReverse: no input makes Reverse panic, and whatever Forward makes
// Reverse gives back.
func FuzzReverse(f *testing.F) {
	f.Add("SRS0=hMFN=G3=example.org=Alice@forward.test")
	f.Add("SRS1=MFBO=hop1.test==ABCD=G3=example.org=alice@forward.test")
	f.Add("srs0+x@y")
	r, _ := New([][]byte{[]byte("k")}, 0, func() time.Time { return at1700000000 })
	f.Fuzz(func(t *testing.T, addr string) {
		r.Reverse(addr)
		if fwd, err := r.Forward(addr, "example.test"); err == nil && !IsSRS(addr) {
			if back, err := r.Reverse(fwd); err != nil || !strings.EqualFold(back, addr) {
				t.Fatalf("Forward(%q) = %q reverses to %q, %v", addr, fwd, back, err)
			}
		}
	})
}
