package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
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
	testUser = "kate@example.org"
	testPass = "correct horse"
)

type testEnv struct {
	addr string
	st   *sqlite.Store
	acct store.Account
	tls  *tls.Config
}

func start(t *testing.T, plaintextOnLoopback bool) *testEnv {
	t.Helper()
	return startWith(t, plaintextOnLoopback, nil)
}

// startWith is start with mutate applied to the Options (when not nil).
func startWith(t *testing.T, plaintextOnLoopback bool, mutate func(*Options, *sqlite.Store)) *testEnv {
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
	hash, err := auth.Hash(testPass)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := st.AddAccount(ctx, testUser, hash)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := tlscert.Load("", "", "localhost", dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Hostname: "sieve.example.org", TLSConfig: tlsCfg, Store: st, MaxScripts: 3,
		Auth:   auth.New(st, auth.Options{PlaintextOnLoopback: plaintextOnLoopback, FailureDelay: 5 * time.Millisecond, MaxFailureDelay: 10 * time.Millisecond}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mutate != nil {
		mutate(&opts, st)
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
	return &testEnv{addr: l.Addr().String(), st: st, acct: acct, tls: tlsCfg}
}

// client is a raw protocol client: it sends lines and reads responses up
// to the final OK/NO/BYE.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	return c
}

// response reads lines until one starting with OK, NO or BYE, and
// returns everything read.
func (c *client) response() string {
	c.t.Helper()
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading response: %v (so far %q)", err, b.String())
		}
		b.WriteString(line)
		if strings.HasPrefix(line, "OK") || strings.HasPrefix(line, "NO") || strings.HasPrefix(line, "BYE") {
			return b.String()
		}
	}
}

func (c *client) cmd(line string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	return c.response()
}

func expect(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("response %q does not contain %q", got, want)
	}
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func TestScriptedSession(t *testing.T) {
	e := start(t, true)
	c := dial(t, e.addr)
	greet := c.response()
	for _, want := range []string{`"IMPLEMENTATION" "pochta"`, `"SASL" "PLAIN"`, `"SIEVE" "body comparator-i;ascii-casemap`, `"STARTTLS"`, `"VERSION" "1.0"`, `"MAXREDIRECTS" "4"`, `"UNAUTHENTICATE"`, "OK "} {
		expect(t, greet, want)
	}
	expect(t, c.cmd(`LISTSCRIPTS`), `NO "Authenticate first"`)
	expect(t, c.cmd(`AUTHENTICATE "PLAIN" "`+plain(testUser, "wrong")+`"`), `NO "Authentication failed"`)
	expect(t, c.cmd(`AUTHENTICATE "PLAIN" "`+plain(testUser, testPass)+`"`), `OK "Logged in"`)
	expect(t, c.cmd(`NOOP "abc"`), `OK (TAG "abc") "Done"`)
	expect(t, c.cmd(`HAVESPACE "main" 1000`), `OK`)
	expect(t, c.cmd(`HAVESPACE "main" 10000000`), `NO (QUOTA/MAXSIZE)`)

	script := "require \"fileinto\";\r\nif header :contains \"subject\" \"report\" {\r\n  fileinto \"Reports\";\r\n}\r\n"
	expect(t, c.cmd("PUTSCRIPT \"main\" {"+itoa(len(script))+"+}\r\n"+script), `OK "Putscript completed"`)
	bad := "require \"fileinto\";\r\nfileinto \"x\"\r\n"
	resp := c.cmd("PUTSCRIPT \"bad\" {" + itoa(len(bad)) + "}\r\n" + bad)
	expect(t, resp, `NO "line 3, column 1: expected \";\" or \"{\" after command \"fileinto\", found end of script"`)
	expect(t, c.cmd("CHECKSCRIPT {"+itoa(len(bad))+"+}\r\n"+bad), `NO "line 3, column 1`)
	expect(t, c.cmd(`CHECKSCRIPT "keep;"`), `OK`)
	expect(t, c.cmd(`PUTSCRIPT "second" "discard;"`), `OK`)
	expect(t, c.cmd(`LISTSCRIPTS`), "\"main\"\r\n\"second\"\r\nOK")
	expect(t, c.cmd(`SETACTIVE "nope"`), `NO (NONEXISTENT)`)
	expect(t, c.cmd(`SETACTIVE "main"`), `OK`)
	expect(t, c.cmd(`LISTSCRIPTS`), "\"main\" ACTIVE\r\n\"second\"\r\nOK")
	expect(t, c.cmd(`GETSCRIPT "main"`), "{"+itoa(len(script))+"}\r\n"+script+"\r\nOK")
	expect(t, c.cmd(`DELETESCRIPT "main"`), `NO (ACTIVE)`)
	expect(t, c.cmd(`RENAMESCRIPT "second" "main"`), `NO (ALREADYEXISTS)`)
	expect(t, c.cmd(`RENAMESCRIPT "second" "third"`), `OK`)
	expect(t, c.cmd(`PUTSCRIPT "fourth" "keep;"`), `OK`)
	expect(t, c.cmd(`PUTSCRIPT "fifth" "keep;"`), `NO (QUOTA/MAXSCRIPTS)`)
	expect(t, c.cmd(`DELETESCRIPT "third"`), `OK`)
	expect(t, c.cmd(`GETSCRIPT "third"`), `NO (NONEXISTENT)`)
	expect(t, c.cmd(`FROB`), `NO "Unknown command FROB"`)
	expect(t, c.cmd(`PUTSCRIPT "x`), `NO "unterminated quoted string"`)
	// A bad command's literal is skipped, not read as commands.
	expect(t, c.cmd("PUTSCRIPT \"x\" 7 {11+}\r\nLOGOUT\r\nX y"), `NO`)
	act, err := e.st.ActiveSieveScript(context.Background(), e.acct.ID)
	if err != nil || act.Name != "main" || act.Content != script {
		t.Fatalf("active script in the store: %+v, %v", act, err)
	}
	expect(t, c.cmd(`UNAUTHENTICATE`), `OK`)
	expect(t, c.cmd(`LISTSCRIPTS`), `NO "Authenticate first"`)
	expect(t, c.cmd(`LOGOUT`), `OK`)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestAuthenticateWithContinuationAndTLS(t *testing.T) {
	e := start(t, false)
	c := dial(t, e.addr)
	greet := c.response()
	expect(t, greet, `"SASL" ""`)
	expect(t, c.cmd(`AUTHENTICATE "PLAIN" "`+plain(testUser, testPass)+`"`), `NO (ENCRYPT-NEEDED)`)
	expect(t, c.cmd(`STARTTLS`), `OK`)
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	caps := c.response() // RFC 5804 §2.2: capabilities again
	expect(t, caps, `"SASL" "PLAIN"`)
	if strings.Contains(caps, "STARTTLS") {
		t.Fatalf("STARTTLS offered again: %q", caps)
	}
	io.WriteString(c.conn, "AUTHENTICATE \"PLAIN\"\r\n")
	line, err := c.r.ReadString('\n')
	if err != nil || line != "\"\"\r\n" {
		t.Fatalf("continuation %q, %v", line, err)
	}
	expect(t, c.cmd(`"`+plain(testUser, testPass)+`"`), `OK "Logged in"`)
	expect(t, c.cmd(`CAPABILITY`), `"OWNER" "kate@example.org"`)
}
