package auth

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$") || strings.Contains(h, "correct") {
		t.Fatalf("hash %q", h)
	}
	if !Verify(h, "correct horse") || Verify(h, "correct horsE") || Verify(h, "") {
		t.Fatal("verify gives wrong answers")
	}
	h2, _ := Hash("correct horse")
	if h == h2 {
		t.Fatal("same salt twice")
	}
	for _, bad := range []string{"", "$argon2id$", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=999999999,t=1,p=1$AA$AA", "plain"} {
		if Verify(bad, "x") {
			t.Fatalf("verify accepted malformed hash %q", bad)
		}
	}
}

func TestFailureDelayGrows(t *testing.T) {
	a := New(nil, Options{FailureDelay: 100 * time.Millisecond, MaxFailureDelay: time.Second})
	ip := netip.MustParseAddr("192.0.2.1")
	var got []time.Duration
	for i := 0; i < 6; i++ {
		got = append(got, a.fail(ip))
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	if d := a.fail(netip.MustParseAddr("192.0.2.2")); d != 100*time.Millisecond {
		t.Fatalf("another IP starts at %v", d)
	}
}

func TestLogin(t *testing.T) {
	ctx := context.Background()
	a := newCacheEnv(t, Options{FailureDelay: 20 * time.Millisecond, MaxFailureDelay: 40 * time.Millisecond, BeforeSMTPWindow: time.Minute}).a
	ip := netip.MustParseAddr("127.0.0.1")
	acct, err := a.Login(ctx, " Kate@Example.TEST", "pw", ip)
	if err != nil || acct.Address != "kate@example.test" {
		t.Fatalf("login: %v %+v", err, acct)
	}
	if !a.RecentLogin(ip) || a.RecentLogin(netip.MustParseAddr("127.0.0.2")) {
		t.Fatal("RecentLogin wrong")
	}
	start := time.Now()
	if _, err := a.Login(ctx, "kate@example.test", "wrong", ip); !errors.Is(err, ErrInvalid) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := a.Login(ctx, "nobody@example.test", "pw", ip); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown user: %v", err)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("two failures answered in %v: not slowed down", d)
	}
}

func TestPlaintextAllowed(t *testing.T) {
	loop := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}
	remote := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}
	on := New(nil, Options{PlaintextOnLoopback: true})
	off := New(nil, Options{PlaintextOnLoopback: false})
	cases := []struct {
		a      *Authenticator
		addr   net.Addr
		tls    bool
		expect bool
	}{
		{on, loop, false, true}, {on, remote, false, false}, {on, remote, true, true},
		{off, loop, false, false}, {off, loop, true, true},
	}
	for i, c := range cases {
		if got := c.a.PlaintextAllowed(c.addr, c.tls); got != c.expect {
			t.Errorf("case %d: got %v", i, got)
		}
	}
}
