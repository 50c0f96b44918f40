package smtpclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"pochta/internal/mtasts"
	"pochta/internal/reply"
)

// PolicyFinder finds a recipient domain's MTA-STS policy (RFC 8461); nil
// means the domain has none. *mtasts.Finder is the real one.
type PolicyFinder interface {
	Find(ctx context.Context, domain string) *mtasts.Policy
}

// TLSFailure is one failure of a recipient domain's TLS policy, with the
// result type of RFC 8460 §4.3 (for TLS reporting).
type TLSFailure struct {
	Domain string // recipient domain
	Host   string // MX host
	Policy string // "sts"
	Mode   string // the policy's mode: enforce or testing
	Result string // RFC 8460 result type, e.g. "certificate-not-trusted"
	Detail string
}

// stsState is the MTA-STS policy a target is reached under.
type stsState struct {
	domain string
	mode   string
	policy *mtasts.Policy
}

func (s *stsState) enforced() bool { return s != nil && s.mode == mtasts.ModeEnforce }

// policyError is a certificate that does not pass the MTA-STS policy or
// the DANE TLSA records.
type policyError struct{ text string }

func (e *policyError) Error() string { return e.text }

// applySTS applies domain's MTA-STS policy to the MX targets (RFC 8461
// §4, §5): under "enforce" only hosts matching the policy's mx patterns
// are used, and each needs TLS with a certificate valid for its name;
// under "testing" every host is used and failures are only reported.
func (c *Client) applySTS(ctx context.Context, domain string, targets []target) ([]target, *reply.Error) {
	if c.opts.MTASTS == nil {
		return targets, nil
	}
	p := c.opts.MTASTS.Find(ctx, domain)
	if p == nil || p.Mode == mtasts.ModeNone {
		return targets, nil
	}
	st := &stsState{domain: domain, mode: p.Mode, policy: p}
	var out []target
	for _, t := range targets {
		if !p.Matches(t.name) {
			t.sts = st
			c.tlsFailure(t, "sts", "validation-failure", "MX host does not match the policy")
			if st.enforced() {
				continue
			}
		}
		t.sts = st
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, &reply.Error{Code: 451, Enhanced: "4.7.5", Text: fmt.Sprintf(
			"MTA-STS policy of %s (enforce) matches none of its MX hosts (policy mx: %s)", domain, strings.Join(p.MX, ", "))}
	}
	return out, nil
}

// tlsFailure logs and reports one failure of t's policy ("sts" or
// "tlsa"), with its RFC 8460 result type.
func (c *Client) tlsFailure(t target, policy, result, detail string) {
	domain, host, mode := t.domain, t.name, "enforce"
	if policy == "sts" {
		domain, mode = t.sts.domain, t.sts.mode
	}
	if t.sess != nil {
		t.sess.failed = true
	}
	c.tlsSession(t, policy, result)
	f := TLSFailure{Domain: domain, Host: host, Policy: policy, Mode: mode, Result: result, Detail: detail}
	c.log.Warn("smtpclient: TLS policy failure", "domain", domain, "policy", policy, "host", host, "mode", mode, "result", result, "detail", detail)
	if c.opts.OnTLSFailure != nil {
		c.opts.OnTLSFailure(f)
	}
}

// tlsConfig is the client TLS configuration for t. Under an MTA-STS
// policy the certificate must be valid for the MX host name (RFC 8461
// §4.2); a failure is reported, and refuses the connection when the
// policy is enforced or verify_tls is set.
func (c *Client) tlsConfig(t target) *tls.Config {
	cfg := &tls.Config{
		ServerName:         t.name,
		InsecureSkipVerify: !c.opts.VerifyTLS,
		RootCAs:            c.opts.RootCAs,
	}
	if t.dane != nil {
		// DANE takes precedence over MTA-STS (RFC 8461 §2).
		return c.daneConfig(t, cfg)
	}
	if t.sts == nil {
		return cfg
	}
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		err := c.verifyPKIX(cs, t.name)
		if err == nil {
			return nil
		}
		result := "certificate-not-trusted"
		var he x509.HostnameError
		var ie x509.CertificateInvalidError
		switch {
		case errors.As(err, &he):
			result = "certificate-host-mismatch"
		case errors.As(err, &ie) && ie.Reason == x509.Expired:
			result = "certificate-expired"
		}
		c.tlsFailure(t, "sts", result, err.Error())
		if t.sts.enforced() || c.opts.VerifyTLS || t.requireTLS {
			return &policyError{fmt.Sprintf("MTA-STS policy of %s (enforce): certificate of %s is not valid: %s", t.sts.domain, t.name, err)}
		}
		return nil
	}
	return cfg
}

// verifyPKIX checks the peer's chain against the roots and name.
func (c *Client) verifyPKIX(cs tls.ConnectionState, name string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, ic := range cs.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: name, Roots: c.opts.RootCAs, Intermediates: inter})
	return err
}

// tlsRefused is the reply for a failed handshake under a policy that
// requires TLS.
func tlsRefused(t target, ip netip.Addr, err error) *reply.Error {
	var se *policyError
	if errors.As(err, &se) {
		return &reply.Error{Code: 451, Enhanced: "4.7.5", Text: se.text}
	}
	return &reply.Error{Code: 451, Enhanced: "4.7.5", Text: fmt.Sprintf("TLS negotiation with %s [%s] failed", t.name, ip)}
}

// noTLS is the reply when TLS is required and t does not offer it; under
// a testing policy the missing STARTTLS is only reported.
func (c *Client) noTLS(t target, ip netip.Addr, log *slog.Logger) *reply.Error {
	if t.dane != nil {
		c.tlsFailure(t, "tlsa", "starttls-not-supported", "STARTTLS not offered")
		return &reply.Error{Code: 451, Enhanced: "4.7.10", Text: fmt.Sprintf(
			"DANE: TLSA records of %s require TLS but %s [%s] does not offer STARTTLS", t.name, t.name, ip)}
	}
	if t.sts.enforced() {
		c.tlsFailure(t, "sts", "starttls-not-supported", "STARTTLS not offered")
		return &reply.Error{Code: 451, Enhanced: "4.7.10", Text: fmt.Sprintf(
			"MTA-STS policy of %s (enforce) requires TLS but %s [%s] does not offer STARTTLS", t.sts.domain, t.name, ip)}
	}
	log.Debug("smtpclient: TLS required but not offered")
	return &reply.Error{Code: 451, Enhanced: "4.7.10", Text: fmt.Sprintf("TLS is required but %s [%s] does not offer it", t.name, ip)}
}
