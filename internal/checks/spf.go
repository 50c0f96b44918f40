package checks

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"

	"pochta/internal/envelope"
	"pochta/internal/reply"
)

// spfOutcome holds the SPF results for the MAIL FROM identity and the HELO
// identity (RFC 7208 §2.3, §2.4).
type spfOutcome struct {
	mailFrom  string     // the reverse-path ("" = null sender)
	domain    string     // the domain whose policy gave result: MAIL FROM's, or HELO's for the null sender
	result    spf.Result // the result that counts (MAIL FROM's, or HELO's for the null sender)
	helo      string     // the HELO name when it is a domain ("" = an address literal: not checked)
	heloRes   spf.Result
	err, hErr error
}

// spfResolver adapts the Resolver to the library's net.Resolver shape.
type spfResolver struct{ Resolver }

func (r spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "invalid address", Name: addr, IsNotFound: true}
	}
	return r.Resolver.LookupAddr(ctx, ip)
}

func (c *Checker) checkSPF(ctx context.Context, env envelope.Envelope) spfOutcome {
	out := spfOutcome{mailFrom: env.From}
	ip := net.IP(env.RemoteIP.Unmap().AsSlice())
	opts := []spf.Option{spf.WithContext(ctx), spf.WithResolver(spfResolver{c.opts.Resolver})}
	helo := normDomain(env.Helo)
	if isDomainName(helo) {
		out.helo = helo
		// RFC 7208 §2.3: the HELO identity is checked as
		// postmaster@helo.
		out.heloRes, out.hErr = spf.CheckHostWithSender(ip, helo, "postmaster@"+helo, opts...)
	} else {
		out.heloRes = spf.None
	}
	if env.From == "" {
		// RFC 7208 §2.4: with the null reverse-path, the HELO result
		// is the MAIL FROM result.
		out.result, out.err, out.domain = out.heloRes, out.hErr, out.helo
		return out
	}
	out.domain = envelope.Domain(env.From)
	out.result, out.err = spf.CheckHostWithSender(ip, helo, env.From, opts...)
	return out
}

// isDomainName reports whether s looks like a domain name with at least
// two labels (not an address literal, not a bare host name).
func isDomainName(s string) bool {
	if s == "" || len(s) > 253 || !strings.Contains(s, ".") || strings.HasPrefix(s, "[") {
		return false
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			if !isAlnum(label[i]) && label[i] != '-' && label[i] != '_' {
				return false
			}
		}
	}
	return true
}

// authResults renders the SPF results: smtp.mailfrom (RFC 8601 §2.7.2),
// and smtp.helo when the HELO name was a domain.
func (o spfOutcome) authResults() []authResult {
	var out []authResult
	if o.mailFrom != "" {
		out = append(out, authResult{Method: "spf", Result: string(o.result), Reason: spfReason(o.result, o.err),
			Props: []prop{{"smtp", "mailfrom", o.mailFrom}}})
	}
	if o.helo != "" {
		out = append(out, authResult{Method: "spf", Result: string(o.heloRes), Reason: spfReason(o.heloRes, o.hErr),
			Props: []prop{{"smtp", "helo", o.helo}}})
	}
	if len(out) == 0 {
		out = append(out, authResult{Method: "spf", Result: "none", Reason: "null sender and no HELO domain"})
	}
	return out
}

// spfReason explains results that are not plain matches.
func spfReason(r spf.Result, err error) string {
	if err == nil {
		return ""
	}
	switch r {
	case spf.TempError, spf.PermError:
		return reasonText(err)
	}
	return ""
}

func (c *Checker) judgeSPF(res *Result, o spfOutcome, dm dmarcOutcome) {
	id := o.mailFrom
	if id == "" {
		id = "postmaster@" + o.helo
	}
	switch o.result {
	case spf.Fail:
		res.Symbols = append(res.Symbols, Symbol{Name: "SPF_FAIL", Score: scoreSPFFail, Detail: o.domain + " does not allow this server to send as " + id})
		if c.opts.SPF == ModeReject {
			// RFC 7372 §3.2: 5.7.23 SPF validation failed.
			rejectIfFirst(res, reply.New(550, "5.7.23", "SPF check failed: %s does not allow this server to send mail", o.domain))
		}
	case spf.SoftFail:
		res.Symbols = append(res.Symbols, Symbol{Name: "SPF_SOFTFAIL", Score: scoreSPFSoftFail, Detail: o.domain})
	case spf.PermError:
		res.Symbols = append(res.Symbols, Symbol{Name: "SPF_PERMERROR", Score: scoreSPFPermError, Detail: o.domain})
	case spf.Pass:
		if dm.spfAligned {
			res.Symbols = append(res.Symbols, Symbol{Name: "SPF_ALIGNED", Score: scoreSPFAligned, Detail: o.domain})
		}
	}
}
