package smtpserver

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"pochta/internal/auth"
	"pochta/internal/scram/scramtest"
)

// scramServer runs a submission server offering SCRAM. bob has a
// verifier; alice's password was set without one, as before SCRAM.
func scramServer(t *testing.T, plaintextOnLoopback bool) (*fixture, string) {
	f := newFixture(t, auth.Options{})
	f.auth = auth.New(f.st, auth.Options{PlaintextOnLoopback: plaintextOnLoopback, FailureDelay: time.Millisecond, SCRAM: f.st})
	bob, err := f.st.GetAccount(context.Background(), "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.SetSCRAMKeys(context.Background(), f.st, bob.Address, bob.PasswordHash, bobPass); err != nil {
		t.Fatal(err)
	}
	return f, startServer(t, f.options(ModeSubmission))
}

// scramSubmit authenticates go-smtp's client with the independent SCRAM
// client (after STARTTLS when useTLS) and submits a message.
func scramSubmit(t *testing.T, addr, user, pass string, useTLS bool, b scramtest.Binding) error {
	t.Helper()
	dial := smtp.Dial
	if useTLS {
		dial = func(addr string) (*smtp.Client, error) {
			return smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
		}
	}
	c, err := dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if cs, ok := c.TLSConnectionState(); ok {
		b.Conn = &cs
	}
	_, ext := c.Extension("AUTH")
	sc := scramtest.New(t, user, pass, b)
	if !strings.Contains(" "+ext+" ", " "+sc.Mechanism()+" ") {
		t.Fatalf("EHLO AUTH %q lacks %s", ext, sc.Mechanism())
	}
	if err := c.Auth(sc); err != nil {
		return err
	}
	if !sc.Valid() {
		t.Fatal("server's signature not checked")
	}
	if err := c.SendMail(user, []string{"alice@example.com"}, strings.NewReader("Subject: scram\r\n\r\nhi\r\n")); err != nil {
		t.Fatalf("submitting after SCRAM: %v", err)
	}
	return c.Quit()
}

// TestSCRAM: AUTH SCRAM-SHA-256 and -PLUS with both channel-binding
// types through go-smtp's client; wrong password, tampered binding and
// downgrade refused; an account without a verifier refused until one
// PLAIN login adds it.
func TestSCRAM(t *testing.T) {
	f, addr := scramServer(t, true)
	c := dialGreeted(t, addr)
	if ehlo := strings.Join(c.cmd("EHLO client.test", "250"), "\n"); !strings.Contains(ehlo, "250 AUTH SCRAM-SHA-256 PLAIN LOGIN") {
		t.Fatalf("EHLO in plain text on loopback:\n%s", ehlo)
	}
	c.startTLS()
	if ehlo := strings.Join(c.cmd("EHLO client.test", "250"), "\n"); !strings.Contains(ehlo, "250 AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN") {
		t.Fatalf("EHLO over TLS:\n%s", ehlo)
	}
	c.cmd("QUIT", "221")

	if err := scramSubmit(t, addr, "bob@example.com", bobPass, false, scramtest.Binding{}); err != nil {
		t.Fatalf("SCRAM-SHA-256: %v", err)
	}
	for _, typ := range []string{"tls-exporter", "tls-server-end-point"} {
		if err := scramSubmit(t, addr, "bob@example.com", bobPass, true, scramtest.Binding{Type: typ}); err != nil {
			t.Fatalf("SCRAM-SHA-256-PLUS %s: %v", typ, err)
		}
		if err := scramSubmit(t, addr, "bob@example.com", bobPass, true, scramtest.Binding{Type: typ, Tamper: true}); err == nil || !strings.Contains(err.Error(), "535") {
			t.Fatalf("tampered %s: %v", typ, err)
		}
	}
	if err := scramSubmit(t, addr, "bob@example.com", bobPass, true, scramtest.Binding{ClaimPlus: true}); err == nil {
		t.Fatal(`"y" accepted where -PLUS is offered`)
	}
	if err := scramSubmit(t, addr, "bob@example.com", "wrong", false, scramtest.Binding{}); err == nil || !strings.Contains(err.Error(), "535") {
		t.Fatalf("wrong password: %v", err)
	}
	if err := scramSubmit(t, addr, "alice@example.com", alicePass, false, scramtest.Binding{}); err == nil {
		t.Fatal("SCRAM worked for an account without a verifier")
	}
	c = dialGreeted(t, addr)
	c.cmd("EHLO client.test", "250")
	c.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice@example.com\x00"+alicePass)), "235")
	c.cmd("QUIT", "221")
	if err := scramSubmit(t, addr, "alice@example.com", alicePass, true, scramtest.Binding{Type: "tls-exporter"}); err != nil {
		t.Fatalf("SCRAM after a PLAIN login: %v", err)
	}
	if n := len(f.inbox("alice@example.com")); n != 4 {
		t.Fatalf("alice got %d messages, want 4 (one per successful login)", n)
	}
}

// TestSCRAMRaw: the 334 exchange by hand, with "*" to cancel and a
// non-empty answer to server-final refused; no SCRAM (nor any AUTH)
// offered in plain text off the allowed paths.
func TestSCRAMRaw(t *testing.T) {
	_, addr := scramServer(t, false)
	c := dialGreeted(t, addr)
	if ehlo := strings.Join(c.cmd("EHLO client.test", "250"), "\n"); strings.Contains(ehlo, "AUTH") {
		t.Fatalf("AUTH offered without TLS:\n%s", ehlo)
	}
	c.startTLS()
	c.cmd("EHLO client.test", "250")
	c.cmd("AUTH SCRAM-SHA-1", "504")
	c.cmd("AUTH SCRAM-SHA-256", "334 ")
	c.cmd("*", "501")
	b64 := base64.StdEncoding.EncodeToString
	sc := scramtest.New(t, "bob@example.com", bobPass, scramtest.Binding{})
	_, first, _ := sc.Start()
	ch := c.cmd("AUTH SCRAM-SHA-256 "+b64(first), "334 ")[0]
	sf, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(ch, "334 "))
	final, err := sc.Next(sf)
	if err != nil {
		t.Fatalf("server-first %q: %v", sf, err)
	}
	ch = c.cmd(b64(final), "334 ")[0]
	v, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(ch, "334 "))
	if _, err := sc.Next(v); err != nil || !sc.Valid() {
		t.Fatalf("server-final %q: %v", v, err)
	}
	c.cmd(b64([]byte("extra")), "535")
}
