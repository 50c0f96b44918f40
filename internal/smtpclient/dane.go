package smtpclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"pochta/internal/dane"
	"pochta/internal/dns"
	"pochta/internal/reply"
)

// daneState is what DANE requires of a target: TLS, and, when usable
// records exist, a certificate matching one of them.
type daneState struct {
	records []dns.TLSA // usable records; none = encrypt without authentication
}

// applyDANE looks up t's TLSA records (RFC 7672 §2.2). DNSSEC-authenticated
// records make TLS mandatory for t; no records, or records without the
// AD bit, leave t opportunistic as before; a failed lookup defers t
// rather than downgrade. A host named by an MX answer that was not
// DNSSEC-authenticated could be an attacker's: DANE does not apply to it
// (RFC 7672 §2.2.1).
func (c *Client) applyDANE(ctx context.Context, t *target) *reply.Error {
	if !c.opts.DANE || t.relay != nil || t.noPolicy || !t.mxSecure {
		return nil
	}
	name := fmt.Sprintf("_%d._tcp.%s", t.port, t.name)
	recs, secure, err := c.opts.Resolver.LookupTLSA(ctx, name)
	switch {
	case dns.IsTemporary(err):
		c.tlsFailure(*t, "tlsa", "dnssec-invalid", "TLSA lookup failed")
		return &reply.Error{Code: 451, Enhanced: "4.7.5", Text: fmt.Sprintf("DANE: TLSA lookup of %s failed; not delivering without it", name)}
	case err != nil, !secure:
		return nil
	}
	t.dane = &daneState{records: dane.Usable(recs)}
	return nil
}

// daneConfig verifies the certificate against t's TLSA records instead
// of the Web PKI (RFC 7672 §3); with only unusable records TLS is
// required but not authenticated (§2.2).
func (c *Client) daneConfig(t target, cfg *tls.Config) *tls.Config {
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(t.dane.records) == 0 {
			return nil
		}
		err := dane.Verify(t.dane.records, cs.PeerCertificates, t.name, time.Now())
		if err == nil {
			return nil
		}
		c.tlsFailure(t, "tlsa", "validation-failure", err.Error())
		return &policyError{fmt.Sprintf("DANE: certificate of %s does not match its TLSA records: %s", t.name, strings.TrimSpace(err.Error()))}
	}
	return cfg
}
