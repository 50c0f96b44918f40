package imapserver

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/store/sqlite"
)

// startConnLimited runs a server with at most one connection per IP and the
// given per-IP exceptions (nil: the default, loopback).
func startConnLimited(t *testing.T, exceptions []string) string {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lim := config.Default().Limits
	lim.MaxConnectionsPerIP = 1
	lim.ConnectionLimitExceptions = exceptions
	srv := New(Options{Hostname: "mx.example.org", Store: st, Auth: auth.New(st, auth.Options{}), Limits: lim, Logger: testLogger(t)})
	return serveLoopback(t, srv)
}

// serveLoopback runs srv on a free loopback port until the test ends and
// returns its address.
func serveLoopback(t testing.TB, srv *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return l.Addr().String()
}

// connLimitDial dials and returns the connection with its first line.
func connLimitDial(t *testing.T, addr string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	return c, br, line
}

// TestLogoutFreesConnectionPlace: once the client has read LOGOUT's
// answer its connection no longer counts, so reconnecting at once works.
func TestLogoutFreesConnectionPlace(t *testing.T) {
	addr := startConnLimited(t, []string{})
	c1, br1, g := connLimitDial(t, addr)
	if !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	if _, _, g := connLimitDial(t, addr); !strings.HasPrefix(g, "* BYE [UNAVAILABLE]") {
		t.Fatalf("second connection from the same IP got %q, want BYE [UNAVAILABLE]", g)
	}
	c1.Write([]byte("a LOGOUT\r\n"))
	for {
		line, err := br1.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "a ") {
			break
		}
	}
	if _, _, g := connLimitDial(t, addr); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("reconnect after LOGOUT got %q", g)
	}
}

// TestLoopbackExemptByDefault: loopback is not held to the per-IP limit
// unless limits.connection_limit_exceptions says otherwise.
func TestLoopbackExemptByDefault(t *testing.T) {
	addr := startConnLimited(t, nil)
	for i := 0; i < 3; i++ {
		if _, _, g := connLimitDial(t, addr); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("connection %d got %q", i+1, g)
		}
	}
}
