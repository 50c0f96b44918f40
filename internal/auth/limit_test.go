package auth

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// TestHourlyFailureCap: after MaxFailuresPerHour failures an IP cannot log
// in even with the right password until the hour has passed; exempt
// networks are never capped.
func TestHourlyFailureCap(t *testing.T) {
	ctx := context.Background()
	a := newCacheEnv(t, Options{FailureDelay: time.Millisecond, MaxFailuresPerHour: 3,
		FailureExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}).a
	now := time.Unix(1700000000, 0)
	a.now = func() time.Time { return now }
	bad := netip.MustParseAddr("192.0.2.7")
	for i := range 3 {
		if _, err := a.Login(ctx, "kate@example.test", "wrong", bad); !errors.Is(err, ErrInvalid) || errors.Is(err, ErrTooManyFailures) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	if _, err := a.Login(ctx, "kate@example.test", "pw", bad); !errors.Is(err, ErrTooManyFailures) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("fourth try, right password: %v", err)
	}
	if _, err := a.Login(ctx, "kate@example.test", "pw", netip.MustParseAddr("192.0.2.8")); err != nil {
		t.Fatalf("another IP capped: %v", err)
	}
	loop := netip.MustParseAddr("127.0.0.1")
	for range 5 {
		a.Login(ctx, "kate@example.test", "wrong", loop)
	}
	if _, err := a.Login(ctx, "kate@example.test", "pw", loop); err != nil {
		t.Fatalf("exempt loopback capped: %v", err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := a.Login(ctx, "kate@example.test", "pw", bad); err != nil {
		t.Fatalf("still capped two hours later: %v", err)
	}
}

// TestAccountFailuresSlowDown: failures for one user from many IPs get the
// longest delay past MaxAccountFailuresPerHour; the owner still logs in.
func TestAccountFailuresSlowDown(t *testing.T) {
	ctx := context.Background()
	const slow = 300 * time.Millisecond
	a := newCacheEnv(t, Options{FailureDelay: time.Millisecond, MaxFailureDelay: slow, MaxAccountFailuresPerHour: 2}).a
	for i := range 2 {
		a.Login(ctx, "kate@example.test", "wrong", netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}))
	}
	start := time.Now()
	if _, err := a.Login(ctx, "kate@example.test", "wrong", netip.MustParseAddr("192.0.2.50")); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	if d := time.Since(start); d < slow {
		t.Fatalf("third failure for the account from a fresh IP answered in %v, want at least %v", d, slow)
	}
	if _, err := a.Login(ctx, "kate@example.test", "pw", netip.MustParseAddr("192.0.2.51")); err != nil {
		t.Fatalf("owner locked out: %v", err)
	}
}

// TestLoginsPerMinuteCap: past MaxLoginsPerMinute successful logins of one
// account in a minute, the right password gets a temporary failure (not
// ErrInvalid) from every IP until the minute has passed; exempt networks
// are not counted, and other accounts are not affected.
func TestLoginsPerMinuteCap(t *testing.T) {
	ctx := context.Background()
	env := newCacheEnv(t, Options{FailureDelay: time.Millisecond, MaxLoginsPerMinute: 3,
		FailureExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	a := env.a
	now := time.Unix(1700000000, 0)
	a.now = func() time.Time { return now }
	for i := range 3 {
		ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
		if _, err := a.Login(ctx, "kate@example.test", "pw", ip); err != nil {
			t.Fatalf("login %d: %v", i+1, err)
		}
	}
	_, err := a.Login(ctx, "kate@example.test", "pw", netip.MustParseAddr("192.0.2.99"))
	if !errors.Is(err, ErrTooManyLogins) || errors.Is(err, ErrInvalid) {
		t.Fatalf("fourth login in the minute: %v, want ErrTooManyLogins (temporary)", err)
	}
	if _, err := a.Login(ctx, "kate@example.test", "pw", netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatalf("exempt loopback refused: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := a.Login(ctx, "kate@example.test", "pw", netip.MustParseAddr("192.0.2.99")); err != nil {
		t.Fatalf("still refused two minutes later: %v", err)
	}
}
