// Package scramtest gives the protocol servers' tests an independent
// SCRAM-SHA-256 client: github.com/xdg-go/scram's, written apart from
// package scram, behind go-sasl's Client interface (which go-imap's and
// go-smtp's clients take) and as a plain stepper for hand-driven
// protocols such as POP3; and GNU SASL's command-line client (GSASL), a
// third implementation, in C, that speaks IMAP and SMTP itself.
package scramtest

import (
	"context"
	"crypto/tls"
	"os/exec"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	xdg "github.com/xdg-go/scram"
)

// Client is one SCRAM exchange seen from the client.
type Client struct {
	mech string
	conv *xdg.ClientConversation
}

var _ sasl.Client = (*Client)(nil)

// Binding says what a Client does about channel binding.
type Binding struct {
	// Type is "tls-exporter", "tls-server-end-point" or "tls-unique" for
	// the -PLUS mechanism; "" for SCRAM-SHA-256.
	Type string
	// Conn gives the data of Type (the client side of the connection).
	Conn *tls.ConnectionState
	// Tamper flips a bit of the data.
	Tamper bool
	// ClaimPlus: without Type, send the "y" flag (the client could bind
	// but believes the server cannot).
	ClaimPlus bool
}

// New starts an exchange as user with password.
func New(t testing.TB, user, password string, b Binding) *Client {
	t.Helper()
	cl, err := xdg.SHA256.NewClient(user, password, "")
	if err != nil {
		t.Fatal(err)
	}
	var cb xdg.ChannelBinding
	switch b.Type {
	case "":
		if b.ClaimPlus {
			return &Client{mech: "SCRAM-SHA-256", conv: cl.NewConversationAdvertisingChannelBinding()}
		}
		return &Client{mech: "SCRAM-SHA-256", conv: cl.NewConversation()}
	case "tls-exporter":
		cb, err = xdg.NewTLSExporterBinding(b.Conn)
	case "tls-server-end-point":
		cb, err = xdg.NewTLSServerEndpointBinding(b.Conn)
	case "tls-unique":
		cb = xdg.NewTLSUniqueBinding(b.Conn.TLSUnique)
	default:
		t.Fatalf("binding type %q", b.Type)
	}
	if err != nil {
		t.Fatal(err)
	}
	if b.Tamper {
		cb.Data = append([]byte(nil), cb.Data...)
		cb.Data[len(cb.Data)-1] ^= 1
	}
	return &Client{mech: "SCRAM-SHA-256-PLUS", conv: cl.NewConversationWithChannelBinding(cb)}
}

// Start implements sasl.Client: the mechanism and client-first-message.
func (c *Client) Start() (string, []byte, error) {
	first, err := c.conv.Step("")
	return c.mech, []byte(first), err
}

// Next implements sasl.Client: client-final-message for server-first,
// then an empty answer to server-final once its signature checks out.
func (c *Client) Next(challenge []byte) ([]byte, error) {
	resp, err := c.conv.Step(string(challenge))
	return []byte(resp), err
}

// Mechanism is the mechanism name the client uses.
func (c *Client) Mechanism() string { return c.mech }

// Valid reports whether the server proved it knows the verifier.
func (c *Client) Valid() bool { return c.conv.Valid() }

// GSASL runs GNU SASL's client (Debian package gsasl) with args and
// returns its output; err is set when it exits non-zero (authentication
// refused). It fails the test when gsasl is not installed.
func GSASL(t testing.TB, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("gsasl"); err != nil {
		t.Fatal("gsasl is not installed (apt-get install gsasl): it is the independent SCRAM client these tests use")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "gsasl", append([]string{"--verbose"}, args...)...).CombinedOutput()
	return string(out), err
}
