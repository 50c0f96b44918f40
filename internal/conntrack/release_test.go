package conntrack

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestPerIPExempt(t *testing.T) {
	h := newHarness(t, 3, 1, false, netip.MustParsePrefix("127.0.0.2/32"))
	for i := 0; i < 2; i++ {
		if _, _, g := h.dial("127.0.0.2"); g != "hi" {
			t.Fatalf("exempt connection %d got %q, want hi", i+1, g)
		}
	}
	if _, _, g := h.dial("127.0.0.1"); g != "hi" {
		t.Fatalf("first connection from 127.0.0.1 got %q", g)
	}
	// The exemption is from the per-IP limit only: the total still holds.
	if _, _, g := h.dial("127.0.0.2"); g != "no too many connections" {
		t.Fatalf("fourth connection got %q, want the TooMany refusal", g)
	}
	if r := h.refusals(); len(r) != 1 || r[0] != TooMany {
		t.Fatalf("refusals %v, want [TooMany]", r)
	}
}

// farewellSession says "bye" when its client sends a line, releasing its
// place first when release is set, and then stays busy (as a session
// tearing down would) until done is closed.
type farewellSession struct {
	tr      *Tracker
	conn    net.Conn
	release bool
	done    chan struct{}
}

func (s *farewellSession) Serve() {
	s.conn.Write([]byte("hi\r\n"))
	if _, err := bufio.NewReader(s.conn).ReadString('\n'); err != nil {
		return
	}
	if s.release {
		s.tr.Release(s.conn)
		s.tr.Release(s.conn) // twice is harmless
	}
	s.conn.Write([]byte("bye\r\n"))
	<-s.done
}

func (s *farewellSession) Interrupt() {}

// TestReleaseBeforeFarewell: a client that has read the farewell and
// reconnects at once is admitted, although the old session has not
// returned yet; without Release the old connection still counts.
func TestReleaseBeforeFarewell(t *testing.T) {
	for _, release := range []bool{true, false} {
		done := make(chan struct{})
		var tr *Tracker
		tr = New(Options{
			MaxConns: 10, MaxConnsPerIP: 1, ErrClosed: errClosed,
			NewSession: func(conn net.Conn, _ netip.Addr) Session {
				return &farewellSession{tr: tr, conn: conn, release: release, done: done}
			},
			Refuse: func(conn net.Conn, why Reason) { conn.Write([]byte("no\r\n")) },
		})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go tr.Serve(l)
		dial := func() (net.Conn, *bufio.Reader, string) {
			c, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			line, _ := br.ReadString('\n')
			return c, br, line
		}
		c, br, g := dial()
		if g != "hi\r\n" {
			t.Fatalf("first connection got %q", g)
		}
		c.Write([]byte("quit\r\n"))
		if line, _ := br.ReadString('\n'); line != "bye\r\n" {
			t.Fatalf("farewell %q", line)
		}
		c.Close()
		c2, _, g2 := dial()
		c2.Close()
		want := "hi\r\n"
		if !release {
			want = "no\r\n" // the control: the old connection still counts
		}
		if g2 != want {
			t.Fatalf("release=%v: reconnect got %q, want %q", release, g2, want)
		}
		close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := tr.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
}
