package smtpserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/envelope"
	"pochta/internal/mda"
	"pochta/internal/store"
	"pochta/internal/store/sqlite"
	"pochta/internal/tlscert"
)

// recordingQueue is the Queue boundary in these tests: it keeps what the
// server handed over so tests can check envelopes; the real queue is
// tested in its own package.
type recordingQueue struct {
	mu  sync.Mutex
	got []queued
}

type queued struct {
	env     envelope.Envelope
	content []byte
}

func (q *recordingQueue) Enqueue(ctx context.Context, env envelope.Envelope, content []byte) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.got = append(q.got, queued{env, append([]byte(nil), content...)})
	return fmt.Sprintf("q%d", len(q.got)), nil
}

func (q *recordingQueue) all() []queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]queued(nil), q.got...)
}

// fixture is a real sqlite store with real local delivery and
// authentication behind the server under test.
type fixture struct {
	t     *testing.T
	st    *sqlite.Store
	mda   *mda.Deliverer
	auth  *auth.Authenticator
	queue *recordingQueue
	tls   *tls.Config
}

const (
	alicePass = "alice-secret-1"
	bobPass   = "bob-secret-2"
)

// newFixture creates domains example.com (accounts alice, bob, quota;
// alias team -> alice, bob; alias fwd -> far@remote.example) and
// catch.example (catch-all to bob).
func newFixture(t *testing.T, authOpts auth.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.AddDomain(ctx, "example.com"))
	must(st.AddDomain(ctx, "catch.example"))
	for addr, pw := range map[string]string{"alice@example.com": alicePass, "bob@example.com": bobPass, "quota@example.com": "quota-pw"} {
		h, err := auth.Hash(pw)
		must(err)
		_, err = st.AddAccount(ctx, addr, h)
		must(err)
	}
	must(st.SetQuota(ctx, "quota@example.com", 2000))
	must(st.AddAlias(ctx, "team@example.com", []string{"alice@example.com", "bob@example.com"}))
	must(st.AddAlias(ctx, "fwd@example.com", []string{"far@remote.example"}))
	must(st.SetCatchAll(ctx, "catch.example", "bob@example.com"))
	q := &recordingQueue{}
	d := mda.New(st, st, q, slog.New(slog.DiscardHandler))
	if authOpts.FailureDelay == 0 {
		authOpts.FailureDelay = time.Millisecond
	}
	a := auth.New(st, authOpts)
	tc, err := tlscert.Load("", "", "mx.test", t.TempDir())
	must(err)
	return &fixture{t: t, st: st, mda: d, auth: a, queue: q, tls: tc}
}

// options returns server options wired to the fixture.
func (f *fixture) options(mode Mode) Options {
	return Options{
		Hostname: "mx.test", Mode: mode, TLSConfig: f.tls,
		Local: f.mda, Queue: f.queue, Auth: f.auth,
		EnforceSender: true,
		Limits: config.Limits{
			MaxMessageSize: 100000, MaxRecipients: 10, MaxLineLength: 1000,
			MaxConnections: 20, MaxConnectionsPerIP: 10,
			CommandTimeout: config.D(10 * time.Second), DataTimeout: config.D(10 * time.Second),
			MaxErrors: 10,
			// Loopback (every test client) is held to the per-IP limit.
			ConnectionLimitExceptions: []string{},
		},
		Logger: slog.New(slog.DiscardHandler),
	}
}

// startServer runs a Server on 127.0.0.1:0 and returns its address.
func startServer(t *testing.T, opts Options) string {
	t.Helper()
	addr, _ := listen(t, opts)
	return addr
}

// listen is startServer that also returns the Server.
func listen(t *testing.T, opts Options) (string, *Server) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(opts)
	done := make(chan struct{})
	go func() {
		s.Serve(l)
		close(done)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return l.Addr().String(), s
}

// inbox returns the contents of the messages in addr's INBOX.
func (f *fixture) inbox(addr string) []string {
	f.t.Helper()
	return f.folder(addr, "INBOX")
}

// folder returns the contents of the messages in one mailbox of addr.
func (f *fixture) folder(addr, name string) []string {
	f.t.Helper()
	ctx := context.Background()
	acct, err := f.st.GetAccount(ctx, addr)
	if err != nil {
		f.t.Fatal(err)
	}
	mb, err := f.st.GetMailbox(ctx, acct.ID, name)
	if err != nil {
		f.t.Fatal(err)
	}
	var uids []uint32
	err = f.st.Messages(ctx, mb.ID, nil, func(m store.Message) error {
		uids = append(uids, m.UID)
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, uid := range uids {
		r, err := f.st.Open(ctx, mb.ID, uid)
		if err != nil {
			f.t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// client is a raw SMTP connection for protocol-level tests.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// dialGreeted dials and checks the 220 greeting.
func dialGreeted(t *testing.T, addr string) *client {
	c := dial(t, addr)
	c.expect("220 ")
	return c
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readReply reads one (possibly multi-line) reply and returns its lines.
func (c *client) readReply() []string {
	c.t.Helper()
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply (after %q): %v", lines, err)
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return lines
		}
	}
}

// expect reads one reply whose last line must start with prefix.
func (c *client) expect(prefix string) []string {
	c.t.Helper()
	lines := c.readReply()
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, prefix) {
		c.t.Fatalf("got reply %q, want prefix %q", lines, prefix)
	}
	return lines
}

// cmd sends one command line and expects a reply with prefix.
func (c *client) cmd(line, prefix string) []string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.expect(prefix)
}

// startTLS upgrades the raw connection.
func (c *client) startTLS() {
	c.t.Helper()
	c.cmd("STARTTLS", "220 ")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: "mx.test"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

// expectClosed checks that the server closed the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	if line, err := c.r.ReadString('\n'); err == nil {
		c.t.Fatalf("connection still open, got %q", line)
	}
}

var loopback = netip.MustParsePrefix("127.0.0.0/8")
