// Package envelope defines the SMTP envelope of a message (RFC 5321 §2.3.1):
// who it is from, whom it is for, and the DSN parameters (RFC 3461) that
// travel with it from the SMTP server through local delivery and the queue.
package envelope

import (
	"net/netip"
	"strings"
	"time"
)

// Envelope is everything about a message except its content.
type Envelope struct {
	// From is the reverse-path; "" is the null sender (bounces).
	From       string
	Recipients []Recipient
	// EnvID and Ret are the RFC 3461 MAIL parameters ENVID (decoded from
	// xtext) and RET ("FULL" or "HDRS"; "" = not given).
	EnvID string
	Ret   string
	// SMTPUTF8 and EightBit record the MAIL parameters the message came with.
	SMTPUTF8 bool
	EightBit bool
	// RequireTLS is the REQUIRETLS MAIL parameter (RFC 8689): relay only
	// over TLS validated by MTA-STS or DANE, else bounce.
	RequireTLS bool `json:",omitempty"`
	// RequireTLSBounce marks a DSN of a REQUIRETLS message, sent with
	// REQUIRETLS itself: when that cannot be met, a redacted copy (without
	// the returned header) goes without it (RFC 8689 §5).
	RequireTLSBounce bool `json:",omitempty"`
	// Authenticated is the account address that submitted it ("" = none).
	Authenticated string
	// RemoteIP and Helo identify the client that handed it to us.
	RemoteIP netip.Addr
	Helo     string
	Received time.Time
	// ID is the id logged for the transaction and used in Received.
	ID string
}

// Recipient is one forward-path with its RFC 3461 parameters.
type Recipient struct {
	Address string
	// Notify holds NOTIFY values ("NEVER" or any of "SUCCESS", "FAILURE",
	// "DELAY"); nil means the default (FAILURE and DELAY).
	Notify []string
	// ORcpt is the ORCPT parameter, its address decoded from xtext
	// ("rfc822;user+tag@example.com"); the SMTP client encodes it again.
	ORcpt string
}

// WantsNotify reports whether the recipient's NOTIFY asks for kind
// ("SUCCESS", "FAILURE" or "DELAY"), applying the RFC 3461 §4.1 default.
func (r Recipient) WantsNotify(kind string) bool {
	if len(r.Notify) == 0 {
		return kind == "FAILURE" || kind == "DELAY"
	}
	for _, n := range r.Notify {
		if strings.EqualFold(n, kind) {
			return true
		}
	}
	return false
}

// Addresses returns the recipients' addresses.
func (e *Envelope) Addresses() []string {
	out := make([]string, len(e.Recipients))
	for i, r := range e.Recipients {
		out[i] = r.Address
	}
	return out
}

// Domain returns the part of addr after the last '@', lower-cased.
func Domain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}

// LocalPart returns the part of addr before the last '@'.
func LocalPart(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr
	}
	return addr[:i]
}

// DecodeXtext undoes the xtext encoding of ENVID and ORCPT (RFC 3461 §4):
// "+XX" is the byte with hex value XX. Malformed escapes are kept as is.
func DecodeXtext(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f' }

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
