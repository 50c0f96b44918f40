package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/revocation"
	"pochta/internal/store"
	"pochta/internal/store/sqlite"
	"pochta/internal/tlscert"
)

const testPassword = "correct horse battery"

// testEnv is a running server over a real sqlite store.
type testEnv struct {
	t     testing.TB
	st    *sqlite.Store
	srv   *Server
	addr  string
	acct  store.Account // alice@example.org
	other store.Account // bob@example.org
	tls   *tls.Config
	// revocations: with envOptions.revoker
	revocations *revocation.Watcher
}

type envOptions struct {
	noPlaintext bool
	literal     int64
	idle        time.Duration
	maxErrors   int
	unauth      time.Duration
	trainer     Trainer
	// revoker: ends sessions by the store's account events (read every
	// 10 ms), as internal/app wires it.
	revoker bool
}

func newEnv(t testing.TB, o envOptions) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := st.AddAccount(ctx, "alice@example.org", hash)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.AddAccount(ctx, "bob@example.org", hash)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tlscert.Load("", "", "localhost", dir)
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.New(st, auth.Options{PlaintextOnLoopback: !o.noPlaintext, FailureDelay: 10 * time.Millisecond, MaxFailureDelay: 20 * time.Millisecond})
	lim := config.Default().Limits
	if o.literal > 0 {
		lim.IMAPLiteralSize = o.literal
	}
	if o.idle > 0 {
		lim.IMAPIdleTimeout = config.D(o.idle)
	}
	if o.maxErrors > 0 {
		lim.MaxErrors = o.maxErrors
	}
	lim.MaxConnectionsPerIP = 5000
	lim.MaxConnections = 5000
	opts := Options{Hostname: "mx.example.org", TLSConfig: tc, Store: st, Auth: authn, Limits: lim, Logger: testLogger(t), Trainer: o.trainer}
	var revocations *revocation.Watcher
	if o.revoker {
		revocations = startRevocations(t, st)
		opts.Revoker = revocations
	}
	srv := New(opts)
	if o.unauth > 0 {
		srv.unauthTimeout = o.unauth
	}
	return &testEnv{t: t, st: st, srv: srv, addr: serveLoopback(t, srv), acct: alice, other: bob, tls: tc, revocations: revocations}
}

// deliver stores a message in alice's mailbox (INBOX when box is "").
func (e *testEnv) deliver(box, msg string) store.Delivered {
	e.t.Helper()
	return e.deliverTo(e.acct, box, msg)
}

func (e *testEnv) deliverTo(a store.Account, box, msg string) store.Delivered {
	e.t.Helper()
	d, err := e.st.Deliver(context.Background(), strings.NewReader(msg), []store.Target{{AccountID: a.ID, Mailbox: box}})
	if err != nil {
		e.t.Fatal(err)
	}
	return d[0]
}

func testMessage(i int, subject string) string {
	return fmt.Sprintf("From: Sender %d <sender%d@example.com>\r\nTo: alice@example.org\r\nSubject: %s\r\n"+
		"Date: Mon, 2 Mar 2026 10:%02d:00 +0000\r\nMessage-ID: <m%d@example.com>\r\n\r\nBody of message %d.\r\n", i, i, subject, i%60, i, i)
}

// rawClient speaks the protocol byte by byte.
type rawClient struct {
	t    testing.TB
	c    net.Conn
	r    *bufio.Reader
	next int
}

func (e *testEnv) dial() *rawClient {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	rc := &rawClient{t: e.t, c: c, r: bufio.NewReader(c)}
	if g := rc.line(); !strings.HasPrefix(g, "* OK [CAPABILITY IMAP4rev1 IMAP4rev2") {
		e.t.Fatalf("greeting %q", g)
	}
	return rc
}

func (e *testEnv) login() *rawClient {
	e.t.Helper()
	rc := e.dial()
	rc.ok("LOGIN alice@example.org \"" + testPassword + "\"")
	return rc
}

// line reads one response line; a literal at its end is read and appended.
func (rc *rawClient) line() string {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := readResponse(rc.r)
	if err != nil {
		rc.t.Fatal(err)
	}
	return l
}

// readResponse reads one response line with the literals it announces
// inlined, without the final CRLF.
func readResponse(r *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("read: %w (so far %q)", err, sb.String()+l)
		}
		sb.WriteString(l)
		t := strings.TrimRight(l, "\r\n")
		if i := strings.LastIndexByte(t, '{'); i >= 0 && strings.HasSuffix(t, "}") {
			if n, err := strconv.Atoi(t[i+1 : len(t)-1]); err == nil {
				buf := make([]byte, n)
				if _, err := ioReadFull(r, buf); err != nil {
					return "", err
				}
				sb.Write(buf)
				continue
			}
		}
		return strings.TrimRight(sb.String(), "\r\n"), nil
	}
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write([]byte(s)); err != nil {
		rc.t.Fatal(err)
	}
}

// run sends one command and returns the untagged lines and the tagged one.
func (rc *rawClient) run(cmd string) ([]string, string) {
	rc.t.Helper()
	rc.next++
	tag := "T" + strconv.Itoa(rc.next)
	rc.send(tag + " " + cmd + "\r\n")
	return rc.until(tag)
}

func (rc *rawClient) until(tag string) ([]string, string) {
	rc.t.Helper()
	var lines []string
	for {
		l := rc.line()
		if strings.HasPrefix(l, tag+" ") {
			return lines, strings.TrimPrefix(l, tag+" ")
		}
		lines = append(lines, l)
		if len(lines) > 200000 {
			rc.t.Fatal("too many lines")
		}
	}
}

// ok runs a command that must succeed and returns its untagged lines.
func (rc *rawClient) ok(cmd string) []string {
	rc.t.Helper()
	lines, st := rc.run(cmd)
	if !strings.HasPrefix(st, "OK") {
		rc.t.Fatalf("%s: %s (untagged %q)", cmd, st, lines)
	}
	return lines
}

// expect runs a command and checks the tagged status starts with want.
func (rc *rawClient) expect(cmd, want string) []string {
	rc.t.Helper()
	lines, st := rc.run(cmd)
	if !strings.HasPrefix(st, want) {
		rc.t.Fatalf("%s: got %q, want prefix %q (untagged %q)", cmd, st, want, lines)
	}
	return lines
}

func has(lines []string, want string) bool {
	for _, l := range lines {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

func mustHave(t testing.TB, lines []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !has(lines, w) {
			t.Fatalf("missing %q in %q", w, lines)
		}
	}
}

func mustNotHave(t testing.TB, lines []string, bad ...string) {
	t.Helper()
	for _, w := range bad {
		if has(lines, w) {
			t.Fatalf("unexpected %q in %q", w, lines)
		}
	}
}
