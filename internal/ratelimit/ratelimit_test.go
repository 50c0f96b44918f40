package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Unix(1700000000, 0)} }
func allowN(l *Window, key string, n int) int {
	ok := 0
	for range n {
		if a, _ := l.Allow(key); a {
			ok++
		}
	}
	return ok
}

func TestWindowSlides(t *testing.T) {
	c := newClock()
	l := NewWindow(10, time.Minute, Options{Now: c.now})
	if got := allowN(l, "ip1", 15); got != 10 {
		t.Fatalf("allowed %d of 15 with limit 10", got)
	}
	if got := allowN(l, "ip2", 3); got != 3 {
		t.Fatalf("another key limited: %d", got)
	}
	ok, refused := l.Allow("ip1")
	if ok || refused != 6 {
		t.Fatalf("refusal count: %v %d", ok, refused)
	}
	// Half a minute into the next window, half of the previous ten still
	// count: five more are allowed.
	c.add(90 * time.Second)
	if got := allowN(l, "ip1", 10); got != 5 {
		t.Fatalf("after 1.5 periods allowed %d, want 5", got)
	}
	c.add(10 * time.Minute)
	if got := allowN(l, "ip1", 12); got != 10 {
		t.Fatalf("after a long pause allowed %d, want 10", got)
	}
	if allowN(NewWindow(0, time.Minute, Options{}), "x", 1000) != 1000 {
		t.Fatal("limit 0 limited")
	}
}

func TestWindowBoundedKeys(t *testing.T) {
	c := newClock()
	l := NewWindow(1, time.Minute, Options{Now: c.now, MaxKeys: 100})
	for i := range 10000 {
		l.Allow(fmt.Sprint("ip", i))
		if l.Len() > 100 {
			t.Fatalf("%d keys tracked after %d", l.Len(), i)
		}
	}
}

func TestDistinct(t *testing.T) {
	c := newClock()
	d := NewDistinct(3, 24*time.Hour, Options{Now: c.now, MaxKeys: 10})
	for _, r := range []string{"a", "b", "c", "a", "b", "c"} {
		if !d.Allow("kate", r) {
			t.Fatalf("%s refused", r)
		}
	}
	if d.Allow("kate", "d") {
		t.Fatal("fourth distinct recipient allowed")
	}
	if !d.Allow("john", "d") {
		t.Fatal("another account limited")
	}
	c.add(12 * time.Hour)
	d.Allow("kate", "a") // a's period starts again
	c.add(13 * time.Hour)
	if !d.Allow("kate", "d") || !d.Allow("kate", "e") || d.Allow("kate", "f") {
		t.Fatal("expired recipients not forgotten, or a still-recent one forgotten")
	}
	for i := range 1000 {
		d.Allow(fmt.Sprint("acct", i), "x")
	}
	if len(d.keys) > 10 {
		t.Fatalf("%d accounts tracked", len(d.keys))
	}
}
