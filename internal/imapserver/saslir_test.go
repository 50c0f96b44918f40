package imapserver

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// authenticateOnce logs in through go-imap's client, which sends the
// initial response with the command when SASL-IR is advertised, and checks
// in the client's log of the traffic (both ways, inside TLS) that the
// exchange took one round trip: no continuation request.
func authenticateOnce(t *testing.T, c *imapclient.Client, log *syncBuffer, pass string) error {
	t.Helper()
	if !c.Caps().Has(imap.CapSASLIR) || !c.Caps().Has(imap.AuthCap(sasl.Plain)) {
		t.Fatalf("caps %v", c.Caps())
	}
	start := len(log.String())
	err := c.Authenticate(sasl.NewPlainClient("", "alice@example.org", pass))
	exchange := log.String()[start:]
	if !strings.Contains(exchange, " AUTHENTICATE PLAIN "+plainIR("alice@example.org", pass)+"\r\n") ||
		strings.HasPrefix(exchange, "+") || strings.Contains(exchange, "\n+") {
		t.Fatalf("exchange %q", exchange)
	}
	return err
}

// RFC 4959: a client logs in with AUTHENTICATE PLAIN in one round trip.
func TestSASLIRGoIMAP(t *testing.T) {
	e := newEnv(t, envOptions{})
	var log syncBuffer
	c, err := imapclient.DialInsecure(e.addr, &imapclient.Options{DebugWriter: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := authenticateOnce(t, c, &log, "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := authenticateOnce(t, c, &log, testPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

// After STARTTLS (plaintext refused before it), SASL-IR is offered and
// used: go-imap's client does STARTTLS itself; its debug log shows the
// traffic inside TLS.
func TestSASLIRAfterStartTLS(t *testing.T) {
	e := newEnv(t, envOptions{noPlaintext: true})
	c := e.dial()
	mustNotHave(t, c.ok("CAPABILITY"), "SASL-IR", "AUTH=PLAIN")
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	ic, err := imapclient.NewStartTLS(nc, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}, DebugWriter: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := authenticateOnce(t, ic, &log, testPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for the client's reader and writer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The raw forms of RFC 4959 §3: "=" is an empty initial response (never a
// continuation), an authorization identity equal to the user is accepted,
// and the tagged OK carries the capabilities.
func TestSASLIRRaw(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial()
	mustHave(t, c.ok("CAPABILITY"), "AUTH=PLAIN SASL-IR")
	c.expect("AUTHENTICATE PLAIN =", "BAD")
	c.expect("AUTHENTICATE PLAIN not*base64", "BAD")
	c.expect("AUTHENTICATE PLAIN "+base64.StdEncoding.EncodeToString([]byte("bob@example.org\x00alice@example.org\x00"+testPassword)), "NO [AUTHORIZATIONFAILED]")
	lines, st := c.run("AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("alice@example.org\x00alice@example.org\x00"+testPassword)))
	if !strings.HasPrefix(st, "OK [CAPABILITY IMAP4rev1 IMAP4rev2") || len(lines) != 0 {
		t.Fatalf("got %q %q", lines, st)
	}
	mustNotHave(t, []string{st}, "SASL-IR", "AUTH=PLAIN")
	c.ok("SELECT INBOX")
}
