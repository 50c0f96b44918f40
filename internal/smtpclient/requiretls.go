package smtpclient

import (
	"bytes"
	"strings"
)

// validated reports whether t's TLS will be authenticated, as a
// REQUIRETLS message needs (RFC 8689 §4.2.1): DANE with usable records,
// an MTA-STS policy (its certificate check then refuses a bad one), or a
// relay whose certificate is verified.
func (c *Client) validated(t target) bool {
	switch {
	case t.relay != nil:
		return c.opts.VerifyTLS
	case t.dane != nil:
		return len(t.dane.records) > 0
	}
	return t.sts != nil
}

// tlsRequiredNo reports whether the message header has "TLS-Required: No"
// (RFC 8689 §5): the sender asks that TLS policies (MTA-STS, DANE) not
// stop delivery.
func tlsRequiredNo(content []byte) bool {
	for len(content) > 0 {
		line := content
		if i := bytes.IndexByte(content, '\n'); i >= 0 {
			line, content = content[:i], content[i+1:]
		} else {
			content = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			return false // end of the header
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimSpace(name)), "TLS-Required") {
			return strings.EqualFold(string(bytes.TrimSpace(value)), "No")
		}
	}
	return false
}
