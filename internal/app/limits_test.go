package app

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"pochta/internal/config"
)

// TestFailedLoginCapAcrossProtocols: limits.auth_failures_per_hour_per_ip
// counts failures of every protocol together; past it, IMAP and POP3
// refuse even the right password from that address.
func TestFailedLoginCapAcrossProtocols(t *testing.T) {
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.Limits.ConnectionLimitExceptions = []string{} // hold loopback to the per-IP limits
		c.Limits.AuthFailuresPerHourPerIP = 2
		c.Auth.FailureDelay = config.D(time.Millisecond)
		c.Auth.MaxFailureDelay = config.D(time.Millisecond)
	})
	imap := lineConn(t, a.Addrs()["imap"][0])
	imap.want("* OK")
	imap.cmd("a LOGIN kate@example.test wrong", "a NO")
	pop := lineConn(t, a.Addrs()["pop3"][0])
	pop.want("+OK")
	pop.cmd("USER kate@example.test", "+OK")
	pop.cmd("PASS wrong", "-ERR")
	// Two failures from 127.0.0.1: the right password is refused now.
	imap.cmd("b LOGIN kate@example.test pw", "b NO")
	pop.cmd("USER kate@example.test", "+OK")
	pop.cmd("PASS pw", "-ERR")
}

type textConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func lineConn(t *testing.T, addr string) *textConn {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &textConn{t: t, c: c, r: bufio.NewReader(c)}
}

// want reads lines until one starts with prefix; untagged IMAP lines
// before a tagged answer are skipped.
func (tc *textConn) want(prefix string) {
	tc.t.Helper()
	for {
		line, err := tc.r.ReadString('\n')
		if err != nil {
			tc.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(line, prefix) {
			return
		}
		if !strings.HasPrefix(line, "* ") {
			tc.t.Fatalf("got %q, want %q", line, prefix)
		}
	}
}

func (tc *textConn) cmd(line, prefix string) {
	tc.t.Helper()
	if _, err := tc.c.Write([]byte(line + "\r\n")); err != nil {
		tc.t.Fatal(err)
	}
	tc.want(prefix)
}
