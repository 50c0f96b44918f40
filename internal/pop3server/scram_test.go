package pop3server

import (
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/scram/scramtest"
)

// scramEnv is newEnv with SCRAM offered. testUser's password was set
// without a verifier, as before SCRAM existed.
func scramEnv(t *testing.T) *env {
	e := newEnv(t, envOptions{plaintextOnLoopback: true, mutate: func(o *Options) { o.MaxErrors = 100 }})
	e.srv.opts.Auth = auth.New(e.st, auth.Options{PlaintextOnLoopback: true, FailureDelay: 5 * time.Millisecond, MaxFailureDelay: 10 * time.Millisecond, SCRAM: e.st})
	return e
}

// scram runs AUTH with the independent client, with or without an
// initial response, and returns the server's last line.
func (c *client) scram(sc *scramtest.Client, initial bool) string {
	c.t.Helper()
	mech, first, err := sc.Start()
	if err != nil {
		c.t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	if initial {
		c.send("AUTH " + mech + " " + b64(first))
	} else {
		c.cmd("AUTH "+mech, "+ ")
		c.send(b64(first))
	}
	for i := 0; i < 3; i++ {
		l := c.line()
		ch, ok := strings.CutPrefix(l, "+ ")
		if !ok {
			return l
		}
		dec, err := base64.StdEncoding.DecodeString(ch)
		if err != nil {
			c.t.Fatalf("challenge %q: %v", l, err)
		}
		resp, err := sc.Next(dec)
		if err != nil {
			c.t.Fatalf("client refused challenge %q: %v", dec, err)
		}
		c.send(b64(resp))
	}
	c.t.Fatal("exchange did not end")
	return ""
}

// TestSCRAM: AUTH SCRAM-SHA-256 in plain text on loopback and
// SCRAM-SHA-256-PLUS after STLS with both channel-binding types; wrong
// password and tampered binding refused; an account without a verifier
// refused until one USER/PASS login adds it.
func TestSCRAM(t *testing.T) {
	e := scramEnv(t)
	c := e.dial()
	if capa := c.multi("CAPA"); !contains(capa, "SASL SCRAM-SHA-256 PLAIN") {
		t.Fatalf("CAPA in plain text: %q", capa)
	}
	if m := c.multi("AUTH"); strings.Join(m, " ") != "SCRAM-SHA-256 PLAIN" {
		t.Fatalf("AUTH list: %q", m)
	}
	c.cmd("AUTH SCRAM-SHA-256-PLUS", "-ERR")
	if l := c.scram(scramtest.New(t, testUser, testPass, scramtest.Binding{}), true); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Fatalf("account without verifier: %q", l)
	}
	e.login().cmd("QUIT", "+OK")
	if l := c.scram(scramtest.New(t, testUser, "wrong", scramtest.Binding{}), false); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Fatalf("wrong password: %q", l)
	}
	sc := scramtest.New(t, testUser, testPass, scramtest.Binding{})
	if l := c.scram(sc, false); !strings.HasPrefix(l, "+OK") || !sc.Valid() {
		t.Fatalf("SCRAM after a USER/PASS login: %q", l)
	}
	c.cmd("QUIT", "+OK")

	for _, typ := range []string{"tls-exporter", "tls-server-end-point"} {
		for _, tamper := range []bool{true, false} {
			c := e.dial()
			c.startTLS(e.clientTLS())
			if capa := c.multi("CAPA"); !contains(capa, "SASL SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN") {
				t.Fatalf("CAPA over TLS: %q", capa)
			}
			cs := c.conn.(*tls.Conn).ConnectionState()
			l := c.scram(scramtest.New(t, testUser, testPass, scramtest.Binding{Type: typ, Conn: &cs, Tamper: tamper}), true)
			if tamper != strings.HasPrefix(l, "-ERR [AUTH]") || !tamper && !strings.HasPrefix(l, "+OK") {
				t.Fatalf("%s (tampered %v): %q", typ, tamper, l)
			}
			if !tamper {
				c.cmd("STAT", "+OK 0 0")
			}
			c.cmd("QUIT", "+OK")
		}
	}
	// "y" over TLS: the client did not see -PLUS, a downgrade.
	c = e.dial()
	c.startTLS(e.clientTLS())
	if l := c.scram(scramtest.New(t, testUser, testPass, scramtest.Binding{ClaimPlus: true}), true); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Fatalf(`"y" over TLS: %q`, l)
	}
}
