package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	xdg "github.com/xdg-go/scram"

	"pochta/internal/scram"
)

// scramLogin runs one SCRAM-SHA-256 exchange through the Authenticator
// with the independent client and returns the server-first message and
// the outcome.
func (e *cacheEnv) scramLogin(user, pass string) (serverFirst string, err error) {
	e.t.Helper()
	cl, err := xdg.SHA256.NewClient(user, pass, "")
	if err != nil {
		e.t.Fatal(err)
	}
	conv := cl.NewConversation()
	x, err := e.a.StartSASL("scram-sha-256", nil, testIP)
	if err != nil {
		e.t.Fatal(err)
	}
	msg, _ := conv.Step("")
	ctx := context.Background()
	for i := 0; ; i++ {
		ch, done, err := x.Next(ctx, []byte(msg))
		if err != nil {
			return serverFirst, err
		}
		if done {
			if x.Account().Address != user {
				e.t.Fatalf("logged in as %q, want %q", x.Account().Address, user)
			}
			return serverFirst, nil
		}
		if i == 0 {
			serverFirst = string(ch)
		}
		if msg, err = conv.Step(string(ch)); err != nil {
			e.t.Fatalf("client refused %q: %v", ch, err)
		}
	}
}

func (e *cacheEnv) failures() int {
	e.a.mu.Lock()
	defer e.a.mu.Unlock()
	if f := e.a.failures[testIP]; f != nil {
		return f.count
	}
	return 0
}

// TestSCRAMLogin: an account without a verifier fails SCRAM (a failed
// login, counted) until a password login adds one; success clears the
// failures and opens POP/IMAP-before-SMTP; a new password hash retires
// the verifier; unknown users and users without a verifier look like
// real ones on the wire.
func TestSCRAMLogin(t *testing.T) {
	e := newCacheEnv(t, Options{})
	e.a.opts.SCRAM = e.st
	if got := strings.Join(e.a.SASLMechanisms(nil), " "); got != "SCRAM-SHA-256" {
		t.Fatalf("mechanisms without TLS: %q", got)
	}
	if _, err := e.a.StartSASL("SCRAM-SHA-256-PLUS", nil, testIP); !errors.Is(err, ErrMechanism) {
		t.Fatalf("-PLUS without TLS: %v", err)
	}

	first, err := e.scramLogin("kate@example.test", "pw")
	if !errors.Is(err, ErrInvalid) || e.failures() != 1 {
		t.Fatalf("no verifier yet: %v, %d failures", err, e.failures())
	}
	// The same salt on every attempt, the iteration count of real keys.
	again, _ := e.scramLogin("kate@example.test", "pw")
	if first[strings.Index(first, ",s="):] != again[strings.Index(again, ",s="):] || !strings.HasSuffix(first, ",i=10000") {
		t.Fatalf("fake server-first messages differ or look unreal: %q %q", first, again)
	}
	e.login("lena@example.test", "wrong", false, 1) // a failed login adds nothing
	e.login("kate@example.test", "pw", true, 2)     // this one adds kate's verifier
	for _, u := range []string{"kate@example.test", "lena@example.test"} {
		_, k, err := e.st.SCRAMKeys(context.Background(), u)
		if err != nil || (k != "") != (u == "kate@example.test") {
			t.Fatalf("%s keys %q, %v", u, k, err)
		}
	}
	e.a.mu.Lock()
	delete(e.a.logins, testIP) // forget the password login's record
	e.a.mu.Unlock()
	e.a.fail(testIP)
	if _, err := e.scramLogin("kate@example.test", "pw"); err != nil {
		t.Fatalf("SCRAM after a password login: %v", err)
	}
	if e.failures() != 0 || !e.a.RecentLogin(testIP) {
		t.Fatalf("success left %d failures, RecentLogin %v", e.failures(), e.a.RecentLogin(testIP))
	}
	if _, err := e.scramLogin("kate@example.test", "wrong"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("wrong password: %v", err)
	}
	// Unknown users: refused, with a stable salt.
	u1, err := e.scramLogin("nobody@example.test", "pw")
	u2, _ := e.scramLogin("nobody@example.test", "pw")
	if !errors.Is(err, ErrInvalid) || u1[strings.Index(u1, ",s="):] != u2[strings.Index(u2, ",s="):] {
		t.Fatalf("unknown user: %v, %q %q", err, u1, u2)
	}
	// A password set without a verifier retires the old one.
	h, _ := Hash("new")
	if err := e.st.SetPasswordHash(context.Background(), "kate@example.test", h); err != nil {
		t.Fatal(err)
	}
	if _, err := e.scramLogin("kate@example.test", "pw"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("old password after a change: %v", err)
	}
	// SetSCRAMKeys, as `pochta user passwd` calls it.
	if err := SetSCRAMKeys(context.Background(), e.st, "kate@example.test", h, "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.scramLogin("kate@example.test", "new"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	// Malformed input is a failed login, not a crash.
	x, _ := e.a.StartSASL(scram.SHA256, nil, testIP)
	if _, _, err := x.Next(context.Background(), []byte("garbage")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("garbage: %v", err)
	}
	if _, _, err := x.Next(context.Background(), nil); err == nil {
		t.Fatal("exchange went on after a failure")
	}
}
