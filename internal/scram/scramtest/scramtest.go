// Package scramtest gives the protocol servers' tests an independent
// SCRAM-SHA-256 client: github.com/xdg-go/scram's, written apart from
// package scram, behind go-sasl's Client interface (which go-imap's and
// go-smtp's clients take) and as a plain stepper for hand-driven
// protocols such as POP3.
package scramtest

import (
	"crypto/tls"
	"testing"

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
	// Type is "tls-exporter" or "tls-server-end-point" for the -PLUS
	// mechanism; "" for SCRAM-SHA-256.
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
