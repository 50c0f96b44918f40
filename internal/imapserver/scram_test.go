package imapserver

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/scram/scramtest"
)

// scramEnv is newEnv with SCRAM offered, plus a second server on
// implicit TLS (port 993 style). bob has a SCRAM verifier; alice's
// password was set without one, as before SCRAM existed.
func scramEnv(t *testing.T) (e *testEnv, tlsAddr string) {
	t.Helper()
	e = newEnv(t, envOptions{})
	authn := auth.New(e.st, auth.Options{PlaintextOnLoopback: true, FailureDelay: 10 * time.Millisecond, MaxFailureDelay: 20 * time.Millisecond, SCRAM: e.st})
	e.srv.opts.Auth = authn
	if err := auth.SetSCRAMKeys(context.Background(), e.st, e.other.Address, e.other.PasswordHash, testPassword); err != nil {
		t.Fatal(err)
	}
	lim := config.Default().Limits
	srv := New(Options{Hostname: "mx.example.org", TLSConfig: e.tls, ImplicitTLS: true, Store: e.st, Auth: authn, Limits: lim, Logger: testLogger(t)})
	return e, serveLoopback(t, srv)
}

// scramLogin authenticates a fresh go-imap client with the independent
// SCRAM client and reports the server's verdict.
func scramLogin(t *testing.T, addr string, useTLS bool, user, pass string, b scramtest.Binding) error {
	t.Helper()
	var conn net.Conn
	var err error
	if useTLS {
		var tc *tls.Conn
		tc, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			cs := tc.ConnectionState()
			b.Conn = &cs
		}
		conn = tc
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	sc := scramtest.New(t, user, pass, b)
	if err := c.Authenticate(sc); err != nil {
		return err
	}
	if !sc.Valid() {
		t.Fatal("server's signature not checked")
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT after SCRAM: %v", err)
	}
	return c.Logout().Wait()
}

// TestSCRAM: AUTHENTICATE SCRAM-SHA-256 and -PLUS (both channel-binding
// types) with go-imap's client driving xdg-go/scram's; wrong password,
// tampered binding and downgrade refused; an account without a verifier
// refused until one PLAIN login adds it.
func TestSCRAM(t *testing.T) {
	e, tlsAddr := scramEnv(t)
	bob := e.other.Address

	lines, _ := e.dial().run("CAPABILITY")
	caps := strings.Join(lines, " ")
	if !strings.Contains(caps, "AUTH=SCRAM-SHA-256 AUTH=PLAIN") || strings.Contains(caps, "SCRAM-SHA-256-PLUS") {
		t.Fatalf("plain-text capabilities: %s", caps)
	}
	tc, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(tc, nil)
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	if tlsCaps := c.Caps(); !tlsCaps.Has("AUTH=SCRAM-SHA-256-PLUS") || !tlsCaps.Has("AUTH=SCRAM-SHA-256") {
		t.Fatalf("TLS capabilities lack SCRAM: %v", tlsCaps)
	}
	c.Close()

	if err := scramLogin(t, e.addr, false, bob, testPassword, scramtest.Binding{}); err != nil {
		t.Fatalf("SCRAM-SHA-256: %v", err)
	}
	for _, typ := range []string{"tls-exporter", "tls-server-end-point"} {
		if err := scramLogin(t, tlsAddr, true, bob, testPassword, scramtest.Binding{Type: typ}); err != nil {
			t.Fatalf("SCRAM-SHA-256-PLUS %s: %v", typ, err)
		}
		if err := scramLogin(t, tlsAddr, true, bob, testPassword, scramtest.Binding{Type: typ, Tamper: true}); err == nil || !strings.Contains(err.Error(), "AUTHENTICATIONFAILED") {
			t.Fatalf("tampered %s: %v", typ, err)
		}
	}
	if err := scramLogin(t, tlsAddr, true, bob, testPassword, scramtest.Binding{}); err != nil {
		t.Fatalf("SCRAM-SHA-256 over TLS: %v", err)
	}
	if err := scramLogin(t, tlsAddr, true, bob, testPassword, scramtest.Binding{ClaimPlus: true}); err == nil {
		t.Fatal(`"y" accepted where -PLUS is offered`)
	}
	if err := scramLogin(t, e.addr, false, bob, "wrong", scramtest.Binding{}); err == nil || !strings.Contains(err.Error(), "AUTHENTICATIONFAILED") {
		t.Fatalf("wrong password: %v", err)
	}
	if err := scramLogin(t, e.addr, false, "nobody@example.org", testPassword, scramtest.Binding{}); err == nil || !strings.Contains(err.Error(), "AUTHENTICATIONFAILED") {
		t.Fatalf("unknown user: %v", err)
	}

	// alice has no verifier yet: refused like a wrong password...
	alice := e.acct.Address
	if err := scramLogin(t, e.addr, false, alice, testPassword, scramtest.Binding{}); err == nil {
		t.Fatal("SCRAM worked for an account without a verifier")
	}
	// ...until a PLAIN login, which knows the password, adds one.
	e.login().ok("LOGOUT")
	if err := scramLogin(t, e.addr, false, alice, testPassword, scramtest.Binding{}); err != nil {
		t.Fatalf("SCRAM after a PLAIN login: %v", err)
	}
	if err := scramLogin(t, tlsAddr, true, alice, testPassword, scramtest.Binding{Type: "tls-exporter"}); err != nil {
		t.Fatalf("SCRAM-PLUS after a PLAIN login: %v", err)
	}
}

// TestSCRAMRaw drives the exchange by hand: SASL-IR, the empty
// challenge without it, "*" to cancel, -PLUS refused without TLS, and
// a non-empty answer to server-final refused.
func TestSCRAMRaw(t *testing.T) {
	e, _ := scramEnv(t)
	b64 := base64.StdEncoding.EncodeToString
	rc := e.dial()
	if _, tagged := rc.run("AUTHENTICATE SCRAM-SHA-256-PLUS " + b64([]byte("p=tls-exporter,,n=bob@example.org,r=abc"))); !strings.HasPrefix(tagged, "NO [CANNOT]") {
		t.Fatalf("-PLUS without TLS: %s", tagged)
	}
	rc.send("A1 AUTHENTICATE SCRAM-SHA-256\r\n")
	if l := rc.line(); l != "+ " {
		t.Fatalf("want an empty challenge, got %q", l)
	}
	rc.send("*\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "A1 BAD") {
		t.Fatalf("cancel: %q", l)
	}

	sc := scramtest.New(t, "bob@example.org", testPassword, scramtest.Binding{})
	_, first, _ := sc.Start()
	rc.send("A2 AUTHENTICATE SCRAM-SHA-256 " + b64(first) + "\r\n")
	ch := rc.line()
	sf, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(ch, "+ "))
	if err != nil || !strings.HasPrefix(string(sf), "r=") {
		t.Fatalf("server-first %q", ch)
	}
	final, err := sc.Next(sf)
	if err != nil {
		t.Fatal(err)
	}
	rc.send(b64(final) + "\r\n")
	ch = rc.line()
	v, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(ch, "+ "))
	if _, err := sc.Next(v); err != nil || !sc.Valid() {
		t.Fatalf("server-final %q: %v", ch, err)
	}
	rc.send(b64([]byte("extra")) + "\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "A2 NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("data after server-final: %q", l)
	}
}
