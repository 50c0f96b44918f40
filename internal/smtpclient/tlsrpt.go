package smtpclient

import (
	"encoding/hex"
	"fmt"
	"strings"

	"pochta/internal/tlsrpt"
)

// session is what TLS reporting needs of one connection.
type session struct {
	ip     string // the receiving address
	failed bool   // a failure was reported for it
}

// tlsSuccess reports a connection whose TLS met t's policy (or, without
// one, that used TLS at all: "no-policy-found", RFC 8460 §4.3).
func (c *Client) tlsSuccess(t target) {
	if t.relay != nil || (t.sess != nil && t.sess.failed) {
		return
	}
	policy := tlsrpt.PolicyNotFound
	switch {
	case t.dane != nil:
		policy = tlsrpt.PolicyTLSA
	case t.sts != nil:
		policy = tlsrpt.PolicySTS
	}
	c.tlsSession(t, policy, "")
}

// tlsSession hands one session's outcome to OnTLSSession.
func (c *Client) tlsSession(t target, policy, result string) {
	if c.opts.OnTLSSession == nil {
		return
	}
	s := tlsrpt.Session{Domain: t.domain, PolicyType: policy, MXHost: t.name, Result: result}
	if t.sess != nil {
		s.ReceivingIP = t.sess.ip
	}
	if c.opts.LocalAddr.IsValid() {
		s.SendingIP = c.opts.LocalAddr.String()
	}
	switch policy {
	case tlsrpt.PolicySTS:
		if t.sts != nil {
			s.Domain = t.sts.domain
			s.PolicyStrings = strings.Split(strings.TrimSpace(t.sts.policy.String()), "\r\n")
			s.MXPatterns = t.sts.policy.MX
		}
	case tlsrpt.PolicyTLSA:
		if t.dane != nil {
			for _, r := range t.dane.records {
				s.PolicyStrings = append(s.PolicyStrings, fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, hex.EncodeToString(r.Data)))
			}
		}
	}
	c.opts.OnTLSSession(s)
}
