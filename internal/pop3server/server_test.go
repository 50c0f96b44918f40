package pop3server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/store"
	"pochta/internal/store/sqlite"
	"pochta/internal/tlscert"
)

const (
	testUser = "alice@example.org"
	testPass = "correct horse battery staple"
)

// env is a running server over a real sqlite store.
type env struct {
	t      testing.TB
	st     *sqlite.Store
	srv    *Server
	addr   string
	acct   store.Account
	inbox  store.Mailbox
	cafile string
	tlsCfg *tls.Config
}

type envOptions struct {
	plaintextOnLoopback bool
	mutate              func(*Options)
}

func newEnv(t testing.TB, eo envOptions) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.Hash(testPass)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := st.AddAccount(ctx, testUser, hash)
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := st.GetMailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := tlscert.Load("", "", "localhost", dir)
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.New(st, auth.Options{
		PlaintextOnLoopback: eo.plaintextOnLoopback,
		FailureDelay:        5 * time.Millisecond,
		MaxFailureDelay:     10 * time.Millisecond,
	})
	opts := Options{
		Hostname:  "pop.example.org",
		TLSConfig: tlsCfg,
		Store:     st,
		Auth:      authn,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if eo.mutate != nil {
		eo.mutate(&opts)
	}
	srv := New(opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return &env{t: t, st: st, srv: srv, addr: l.Addr().String(), acct: acct, inbox: inbox,
		cafile: filepath.Join(dir, "tls", "selfsigned.crt"), tlsCfg: tlsCfg}
}

// add appends a message to the INBOX and returns its UID.
func (e *env) add(content string, flags ...string) uint32 {
	e.t.Helper()
	m, err := e.st.Append(context.Background(), e.inbox.ID, flags, time.Time{}, strings.NewReader(content))
	if err != nil {
		e.t.Fatal(err)
	}
	return m.UID
}

// messages returns the INBOX's messages.
func (e *env) messages() []store.Message {
	e.t.Helper()
	var out []store.Message
	if err := e.st.Messages(context.Background(), e.inbox.ID, nil, func(m store.Message) error {
		out = append(out, m)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) clientTLS() *tls.Config {
	pem, err := os.ReadFile(e.cafile)
	if err != nil {
		e.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// client is a minimal POP3 client that shows the raw protocol.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func (e *env) dial() *client {
	e.t.Helper()
	conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	c := &client{t: e.t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("+OK")
	return c
}

// login dials and logs in with USER/PASS.
func (e *env) login() *client {
	c := e.dial()
	c.cmd("USER "+testUser, "+OK")
	c.cmd("PASS "+testPass, "+OK")
	return c
}

func (c *client) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (c *client) expect(prefix string) string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, prefix) {
		c.t.Fatalf("got %q, want prefix %q", l, prefix)
	}
	return l
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends a command and checks the first line of the answer.
func (c *client) cmd(line, prefix string) string {
	c.t.Helper()
	c.send(line)
	return c.expect(prefix)
}

// multi sends a command expecting a multi-line answer and returns the raw
// lines (still byte-stuffed) before the terminating ".".
func (c *client) multi(line string) []string {
	c.t.Helper()
	c.cmd(line, "+OK")
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		out = append(out, l)
	}
}

// closed checks that the server closed the connection.
func (c *client) closed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := c.r.ReadString('\n'); err != io.EOF {
		c.t.Fatalf("connection not closed: %q, %v", l, err)
	}
}

func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	c.cmd("STLS", "+OK")
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

func plain(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

const msg1 = "From: bob@example.net\r\nSubject: one\r\n\r\nfirst body\r\n.leading dot\r\n..two dots\r\n.\r\nlast\r\n"
const msg2 = "From: carol@example.net\r\nSubject: two\r\n\r\nsecond\r\n"
const msg3 = "From: dave@example.net\r\nSubject: three\r\n\r\nthird\r\n"

func TestTransaction(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true})
	e.add(msg1)
	e.add(msg2)
	e.add(msg3)

	c := e.dial()
	capa := c.multi("CAPA")
	for _, want := range []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER", "SASL PLAIN", "STLS"} {
		if !contains(capa, want) {
			t.Errorf("CAPA %q lacks %q", capa, want)
		}
	}
	c.cmd("STAT", "-ERR")           // not in the TRANSACTION state yet
	c.cmd("PASS "+testPass, "-ERR") // PASS without USER
	c.cmd("USER "+testUser, "+OK")
	c.cmd("PASS wrong password", "-ERR [AUTH]")
	c.cmd("USER "+testUser, "+OK")
	c.cmd("PASS "+testPass, "+OK")
	capa = c.multi("CAPA")
	if contains(capa, "USER") || contains(capa, "STLS") {
		t.Errorf("CAPA after login %q still offers USER/STLS", capa)
	}
	c.cmd("USER x", "-ERR")

	total := len(msg1) + len(msg2) + len(msg3)
	c.cmd("STAT", "+OK 3 "+strconv.Itoa(total))
	list := c.multi("LIST")
	want := []string{"1 " + strconv.Itoa(len(msg1)), "2 " + strconv.Itoa(len(msg2)), "3 " + strconv.Itoa(len(msg3))}
	if strings.Join(list, "|") != strings.Join(want, "|") {
		t.Errorf("LIST = %q, want %q", list, want)
	}
	c.cmd("LIST 2", "+OK 2 "+strconv.Itoa(len(msg2)))
	c.cmd("LIST 4", "-ERR")
	c.cmd("LIST 0", "-ERR")
	c.cmd("LIST x", "-ERR")
	uidl := c.multi("UIDL")
	if len(uidl) != 3 {
		t.Fatalf("UIDL = %q", uidl)
	}
	c.cmd("UIDL 3", "+OK "+uidl[2])

	// RETR: byte-stuffing, CRLF, and the octet count.
	retr := c.multi("RETR 1")
	wantLines := []string{"From: bob@example.net", "Subject: one", "", "first body", "..leading dot", "...two dots", "..", "last"}
	if strings.Join(retr, "|") != strings.Join(wantLines, "|") {
		t.Errorf("RETR 1 = %q, want %q", retr, wantLines)
	}
	top := c.multi("TOP 1 0")
	if strings.Join(top, "|") != "From: bob@example.net|Subject: one|" {
		t.Errorf("TOP 1 0 = %q", top)
	}
	top = c.multi("TOP 1 2")
	if strings.Join(top, "|") != "From: bob@example.net|Subject: one||first body|..leading dot" {
		t.Errorf("TOP 1 2 = %q", top)
	}
	c.cmd("TOP 1", "-ERR")
	c.cmd("TOP 1 -1", "-ERR")
	c.cmd("RETR 9", "-ERR")
	c.cmd("NOOP", "+OK")

	// DELE marks; the message disappears from the session's view only.
	c.cmd("DELE 1", "+OK")
	c.cmd("DELE 1", "-ERR")
	c.cmd("RETR 1", "-ERR")
	c.cmd("LIST 1", "-ERR")
	c.cmd("STAT", "+OK 2 "+strconv.Itoa(len(msg2)+len(msg3)))
	if l := c.multi("LIST"); len(l) != 2 || !strings.HasPrefix(l[0], "2 ") {
		t.Errorf("LIST after DELE = %q (numbers must not change)", l)
	}
	c.cmd("RSET", "+OK")
	c.cmd("STAT", "+OK 3 ")
	c.cmd("DELE 2", "+OK")
	c.cmd("QUIT", "+OK")
	c.closed()

	msgs := e.messages()
	if len(msgs) != 2 || msgs[0].UID != 1 || msgs[1].UID != 3 {
		t.Fatalf("after QUIT the INBOX has %+v, want UIDs 1 and 3", msgs)
	}
	if !msgs[0].HasFlag(`\Seen`) || msgs[1].HasFlag(`\Seen`) {
		t.Errorf("RETR must set \\Seen on message 1 only (TOP does not): %+v", msgs)
	}
}

func TestUpdateStateOnlyOnQuit(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true})
	e.add(msg1)
	e.add(msg2)
	imapDeleted := e.add(msg3, `\Deleted`) // flagged through IMAP, not expunged

	// DELE and a dropped connection: nothing is deleted.
	c := e.login()
	c.cmd("DELE 1", "+OK")
	c.cmd("DELE 2", "+OK")
	c.conn.Close()
	// A QUIT in the AUTHORIZATION state deletes nothing either.
	c2 := e.dial()
	c2.cmd("QUIT", "+OK")
	c2.closed()
	// Shutdown waits for every session, so the dropped one has ended.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.messages()); n != 3 {
		t.Fatalf("dropped connection deleted messages: %d left, want 3", n)
	}

	// A new server on the same store: DELE + QUIT removes exactly the
	// marked message, not the one flagged \Deleted elsewhere.
	e2 := &env{t: t, st: e.st, acct: e.acct, inbox: e.inbox}
	srv := New(Options{Store: e.st, Auth: auth.New(e.st, auth.Options{PlaintextOnLoopback: true})})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())
	e2.addr = l.Addr().String()
	c = e2.login()
	c.cmd("STAT", "+OK 3 ")
	c.cmd("DELE 2", "+OK")
	c.cmd("QUIT", "+OK")
	c.closed()
	msgs := e.messages()
	if len(msgs) != 2 || msgs[0].UID != 1 || msgs[1].UID != imapDeleted {
		t.Fatalf("after QUIT: %+v, want UIDs 1 and %d", msgs, imapDeleted)
	}
	if msgs[0].HasFlag(`\Deleted`) {
		t.Errorf("undeleted message got \\Deleted: %+v", msgs[0])
	}
}

func TestUIDLStableAcrossSessions(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true})
	e.add(msg1)
	e.add(msg2)
	e.add(msg3)
	c := e.login()
	first := c.multi("UIDL")
	seen := map[string]bool{}
	for _, l := range first {
		_, id, _ := strings.Cut(l, " ")
		if id == "" || len(id) > 70 || seen[id] {
			t.Fatalf("bad or duplicate unique-id in %q", first)
		}
		seen[id] = true
	}
	c.cmd("DELE 1", "+OK")
	c.cmd("QUIT", "+OK")

	e.add("Subject: four\r\n\r\n4\r\n")
	c = e.login()
	second := c.multi("UIDL")
	_, id2, _ := strings.Cut(first[1], " ")
	_, id3, _ := strings.Cut(first[2], " ")
	if len(second) != 3 || second[0] != "1 "+id2 || second[1] != "2 "+id3 || seen[strings.Fields(second[2])[1]] {
		t.Fatalf("UIDL after deleting message 1 = %q, first session %q", second, first)
	}
}

// TestSizesMatchRetr checks that LIST and STAT count exactly the octets
// RETR sends, also for a message stored with bare LF line endings and one
// without a final line ending.
func TestSizesMatchRetr(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true})
	e.add("Subject: bare\n\nline one\n.dot\nline three\n")
	e.add("Subject: no final newline\r\n\r\nend")
	e.add(msg1)
	c := e.login()
	var total int
	for i, l := range c.multi("LIST") {
		f := strings.Fields(l)
		size, _ := strconv.Atoi(f[1])
		total += size
		lines := c.multi("RETR " + strconv.Itoa(i+1))
		got := 0
		for _, rl := range lines {
			got += len(strings.TrimPrefix(rl, ".")) + 2 // unstuffed, with CRLF
		}
		if got != size {
			t.Errorf("message %d: LIST says %d, RETR sent %d", i+1, size, got)
		}
	}
	c.cmd("STAT", "+OK 3 "+strconv.Itoa(total))
	if total == len("Subject: bare\n\nline one\n.dot\nline three\n")+len("Subject: no final newline\r\n\r\nend")+len(msg1) {
		t.Errorf("sizes were not corrected for bare LF / missing final CRLF")
	}
}

func TestSTLS(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: false})
	e.add(msg2)
	c := e.dial()
	capa := c.multi("CAPA")
	if contains(capa, "USER") || contains(capa, "SASL PLAIN") || !contains(capa, "STLS") {
		t.Errorf("CAPA without TLS on a no-plaintext policy = %q", capa)
	}
	c.cmd("USER "+testUser, "-ERR [AUTH]")
	c.cmd("PASS "+testPass, "-ERR [AUTH]")
	c.cmd("AUTH PLAIN "+plain("", testUser, testPass), "-ERR [AUTH]")
	c.startTLS(e.clientTLS())
	capa = c.multi("CAPA")
	if !contains(capa, "USER") || !contains(capa, "SASL PLAIN") || contains(capa, "STLS") {
		t.Errorf("CAPA after STLS = %q", capa)
	}
	c.cmd("STLS", "-ERR")
	c.cmd("USER "+testUser, "+OK")
	c.cmd("PASS "+testPass, "+OK")
	if r := c.multi("RETR 1"); len(r) != 4 {
		t.Errorf("RETR over TLS = %q", r)
	}
	c.cmd("QUIT", "+OK")

	// Commands pipelined behind STLS in plain text are refused.
	c = e.dial()
	c.send("STLS\r\nUSER " + testUser)
	c.expect("-ERR")
	c.closed()
}

func TestImplicitTLS(t *testing.T) {
	e := newEnv(t, envOptions{mutate: func(o *Options) { o.ImplicitTLS = true }})
	e.add(msg2)
	conn, err := tls.Dial("tcp", e.addr, e.clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("+OK")
	capa := c.multi("CAPA")
	if contains(capa, "STLS") || !contains(capa, "USER") {
		t.Errorf("CAPA on pop3s = %q", capa)
	}
	c.cmd("AUTH PLAIN "+plain("", testUser, testPass), "+OK")
	c.cmd("STAT", "+OK 1 ")
	c.cmd("QUIT", "+OK")
}

func TestAuthPlain(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true, mutate: func(o *Options) { o.MaxErrors = 100 }})
	c := e.dial()
	if m := c.multi("AUTH"); !contains(m, "PLAIN") {
		t.Errorf("AUTH mechanism list %q", m)
	}
	c.cmd("AUTH CRAM-MD5", "-ERR")
	c.cmd("AUTH PLAIN "+plain("", testUser, "nope"), "-ERR [AUTH]")
	c.cmd("AUTH PLAIN !!!notbase64", "-ERR")
	c.cmd("AUTH PLAIN =", "-ERR [AUTH]")
	c.cmd("AUTH PLAIN "+plain("bob@example.org", testUser, testPass), "-ERR [AUTH]")
	c.cmd("AUTH PLAIN", "+ ")
	c.cmd("*", "-ERR")
	c.cmd("AUTH PLAIN", "+ ")
	c.cmd(plain(testUser, testUser, testPass), "+OK")
	c.cmd("STAT", "+OK 0 0")
	c.cmd("AUTH PLAIN", "-ERR")
	c.cmd("QUIT", "+OK")

	c = e.dial()
	c.cmd("auth plain "+plain("", strings.ToUpper(testUser), testPass), "+OK")
}

func TestBadCommands(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true, mutate: func(o *Options) { o.MaxErrors = 5 }})
	c := e.dial()
	c.cmd("HELO there", "-ERR")
	c.cmd(strings.Repeat("A", 300), "-ERR")
	c.cmd("", "-ERR")
	c.cmd("USER a\x01b", "-ERR")
	// The session still works after errors.
	c.multi("CAPA")
	c.send("XXXX")
	c.expect("-ERR")
	c.expect("-ERR Too many errors")
	c.closed()

	// An endless line without a newline ends the session.
	c = e.dial()
	junk := strings.Repeat("x", 70<<10)
	go io.WriteString(c.conn, junk)
	// The server answers "-ERR" and closes; the client, still writing,
	// may see a reset before it reads that line.
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l, err := c.r.ReadString('\n')
		if err == nil {
			if !strings.HasPrefix(l, "-ERR Line too long") {
				t.Fatalf("endless line answered %q", l)
			}
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("endless line: connection not closed (%v)", err)
		}
		break
	}
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true, mutate: func(o *Options) { o.IdleTimeout = time.Second }})
	e.add(msg1)
	c := e.login()
	c.cmd("DELE 1", "+OK")
	c.expect("-ERR Autologout")
	c.closed()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.messages()); n != 1 {
		t.Fatalf("timeout deleted messages: %d left", n)
	}
}

func TestConnectionLimits(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true, mutate: func(o *Options) { o.MaxConnectionsPerIP = 2 }})
	a := e.dial()
	b := e.dial()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("-ERR [SYS/TEMP]")
	c.closed()
	a.cmd("QUIT", "+OK")
	a.closed()
	b.cmd("NOOP", "-ERR") // still alive (NOOP is a TRANSACTION command)
	// The place is free as soon as the client has read QUIT's +OK.
	conn2, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	conn2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, _ := bufio.NewReader(conn2).ReadString('\n'); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("reconnect after QUIT got %q", l)
	}
}

// TestConnectionLimitExempt: an exempt network is not held to the
// per-IP limit.
func TestConnectionLimitExempt(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true, mutate: func(o *Options) {
		o.MaxConnectionsPerIP = 1
		o.PerIPExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	for i := 0; i < 3; i++ {
		e.dial()
	}
}

func TestLockMailbox(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true, mutate: func(o *Options) { o.LockMailbox = true }})
	a := e.login()
	b := e.dial()
	b.cmd("USER "+testUser, "+OK")
	b.cmd("PASS "+testPass, "-ERR [IN-USE]")
	a.cmd("QUIT", "+OK")
	a.closed()
	// The lock is released when the first session has ended.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.cmd("USER "+testUser, "+OK")
		b.send("PASS " + testPass)
		if l := b.line(); strings.HasPrefix(l, "+OK") {
			break
		} else if !strings.HasPrefix(l, "-ERR [IN-USE]") || time.Now().After(deadline) {
			t.Fatalf("second login: %q", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConcurrentSessions: without LockMailbox, two sessions may share a
// mailbox; a message one of them removed is reported, not crashed on.
func TestConcurrentSessions(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true})
	e.add(msg1)
	e.add(msg2)
	a := e.login()
	b := e.login()
	b.cmd("DELE 1", "+OK")
	b.cmd("QUIT", "+OK")
	b.closed()
	a.cmd("RETR 1", "-ERR")
	a.multi("RETR 2")
	a.cmd("DELE 1", "+OK")
	a.cmd("QUIT", "+OK")
	if msgs := e.messages(); len(msgs) != 1 || msgs[0].UID != 2 {
		t.Fatalf("INBOX = %+v, want UID 2 only", msgs)
	}
}

func TestShutdownNotifiesIdleSessions(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true})
	e.add(msg1)
	c := e.login()
	c.cmd("DELE 1", "+OK")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.expect("-ERR [SYS/TEMP]")
	c.closed()
	if n := len(e.messages()); n != 1 {
		t.Fatalf("shutdown deleted messages: %d left", n)
	}
	if _, err := net.Dial("tcp", e.addr); err == nil {
		t.Error("listener still accepting after Shutdown")
	}
}

func TestPipelining(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: true})
	e.add(msg2)
	c := e.dial()
	c.send("USER " + testUser + "\r\nPASS " + testPass + "\r\nSTAT\r\nLIST 1\r\nQUIT")
	c.expect("+OK")
	c.expect("+OK")
	c.expect("+OK 1 " + strconv.Itoa(len(msg2)))
	c.expect("+OK 1 ")
	c.expect("+OK")
	c.closed()
}

// TestPythonPoplib drives the server with Python's poplib: STLS, USER/PASS,
// STAT, LIST, UIDL, RETR, TOP, DELE and QUIT.
func TestPythonPoplib(t *testing.T) {
	e := newEnv(t, envOptions{plaintextOnLoopback: false})
	e.add(msg1)
	e.add("Subject: bare LF\n\nbody\n")
	host, port, _ := net.SplitHostPort(e.addr)
	cmd := exec.Command("python3", "testdata/poplib_client.py", host, port, testUser, testPass, e.cafile)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("poplib: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var res struct {
		Welcome    string   `json:"welcome"`
		CapaBefore []string `json:"capa_before"`
		CapaAfter  []string `json:"capa_after"`
		Stat       []int    `json:"stat"`
		List       []string `json:"list"`
		UIDL       []string `json:"uidl"`
		Retr       []struct {
			Lines  []string `json:"lines"`
			Octets int      `json:"octets"`
		} `json:"retr"`
		Top  []string `json:"top"`
		Quit string   `json:"quit"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.HasPrefix(res.Welcome, "+OK") || !contains(res.CapaBefore, "STLS") || contains(res.CapaBefore, "USER") || !contains(res.CapaAfter, "USER") {
		t.Errorf("welcome %q capa %q / %q", res.Welcome, res.CapaBefore, res.CapaAfter)
	}
	if len(res.Stat) != 2 || res.Stat[0] != 2 || len(res.List) != 2 || len(res.UIDL) != 2 || len(res.Retr) != 2 {
		t.Fatalf("poplib result %s", out)
	}
	for i, r := range res.Retr {
		size, _ := strconv.Atoi(strings.Fields(res.List[i])[1])
		if r.Octets != size {
			t.Errorf("message %d: poplib counted %d octets, LIST said %d", i+1, r.Octets, size)
		}
	}
	if want := strings.Split(strings.TrimSuffix(msg1, "\r\n"), "\r\n"); strings.Join(res.Retr[0].Lines, "|") != strings.Join(want, "|") {
		t.Errorf("poplib RETR 1 = %q, want %q", res.Retr[0].Lines, want)
	}
	if strings.Join(res.Top, "|") != "From: bob@example.net|Subject: one|" {
		t.Errorf("poplib TOP = %q", res.Top)
	}
	if !strings.HasPrefix(res.Quit, "+OK") {
		t.Errorf("QUIT = %q", res.Quit)
	}
	msgs := e.messages()
	if len(msgs) != 1 || msgs[0].UID != 2 || !msgs[0].HasFlag(`\Seen`) {
		t.Errorf("after poplib session: %+v, want UID 2 seen", msgs)
	}
}
