package pop3server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzSession feeds arbitrary client input to a real server over a
// loopback socket: whatever arrives, every reply line must be CRLF
// terminated and within RFC 2449's 512 octets (status lines) unless it is
// message content, and the server must stay up for the next client.
func FuzzSession(f *testing.F) {
	login := "USER " + testUser + "\r\nPASS " + testPass + "\r\n"
	for _, s := range []string{
		"CAPA\r\nQUIT\r\n",
		login + "STAT\r\nLIST\r\nUIDL 1\r\nRETR 1\r\nTOP 1 0\r\nDELE 1\r\nRSET\r\nQUIT\r\n",
		login + "LIST 99999999999\r\nTOP 1 999999999\r\nDELE 0\r\nRETR -1\r\nNOOP x\r\nDELE 2\r\nDELE 2\r\n",
		"AUTH PLAIN\r\n" + plain("", testUser, testPass) + "\r\nLIST\r\n",
		"AUTH PLAIN\r\n*\r\nAUTH PLAIN ====\r\n",
		"STLS\r\n\x16\x03\x01\x00\x05hello",
		"USER \x00\r\nPASS\r\n" + strings.Repeat("X", 300) + "\r\n",
		"\r\n\n\n\rLIST\r",
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, envOptions{plaintextOnLoopback: true, mutate: func(o *Options) { o.MaxErrors = 50 }})
	e.add(msg1)
	e.add(msg2)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 8192 {
			in = in[:8192]
		}
		conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go func() {
			conn.Write(in)
			conn.(*net.TCPConn).CloseWrite()
		}()
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(conn)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("server neither answered nor closed: %v", err)
				}
				if l != "" && !errors.Is(err, io.EOF) {
					t.Fatalf("partial line %q: %v", l, err)
				}
				break
			}
			if !strings.HasSuffix(l, "\r\n") {
				t.Fatalf("reply line %q not CRLF terminated", l)
			}
			if (strings.HasPrefix(l, "+OK") || strings.HasPrefix(l, "-ERR")) && len(l) > 512 {
				t.Fatalf("status line of %d octets", len(l))
			}
		}
		// The server is still there.
		c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if l, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("greeting after fuzz input: %q, %v", l, err)
		}
		c.Close()
	})
}
