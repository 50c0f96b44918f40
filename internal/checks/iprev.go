package checks

import (
	"context"
	"slices"
	"strings"

	"net/netip"

	"pochta/internal/dns"
	"pochta/internal/envelope"
	"pochta/internal/reply"
)

// maxPTRNames bounds the PTR names whose addresses are looked up (RFC 8601
// §3 leaves the bound to the implementation; mox and Postfix use 10).
const maxPTRNames = 10

// iprevOutcome is the forward-confirmed reverse DNS check of the client
// (RFC 8601 §3): its PTR names, then their addresses, which must include
// the client's.
type iprevOutcome struct {
	result string   // pass | fail | temperror
	names  []string // the PTR names whose addresses include the client's (pass)
	reason string
}

func (c *Checker) checkIPRev(ctx context.Context, ip netip.Addr) iprevOutcome {
	ip = ip.Unmap()
	names, err := c.opts.Resolver.LookupAddr(ctx, ip)
	if err != nil {
		if dns.IsTemporary(err) || ctx.Err() != nil {
			return iprevOutcome{result: "temperror", reason: "PTR lookup failed"}
		}
		return iprevOutcome{result: "fail", reason: "no PTR record"}
	}
	if len(names) > maxPTRNames {
		names = names[:maxPTRNames]
	}
	var out iprevOutcome
	temp := false
	for _, n := range names {
		n = normDomain(n)
		ips, err := c.opts.Resolver.LookupIP(ctx, n)
		if err != nil {
			temp = temp || dns.IsTemporary(err) || ctx.Err() != nil
			continue
		}
		if slices.Contains(ips, ip) {
			out.names = append(out.names, n)
		}
	}
	switch {
	case len(out.names) > 0:
		out.result = "pass"
	case temp:
		out.result, out.reason = "temperror", "address lookup of the PTR name failed"
	default:
		out.result, out.reason = "fail", "PTR name does not resolve to the address"
	}
	return out
}

// authResult renders "iprev=pass policy.iprev=1.2.3.4 (name)" (RFC 8601
// §2.7.3).
func (o iprevOutcome) authResult(ip netip.Addr) authResult {
	ar := authResult{Method: "iprev", Result: o.result, Reason: o.reason,
		Props: []prop{{"policy", "iprev", ip.Unmap().String()}}}
	if len(o.names) > 0 {
		ar.PropComment = strings.Join(o.names, " ")
	}
	return ar
}

// senderDomains are the domains a client claims to send for: the
// envelope sender's (HELO's for the null sender) and the From header's.
func senderDomains(env envelope.Envelope, h header) []string {
	var out []string
	if env.From != "" {
		out = append(out, envelope.Domain(env.From))
	} else if d := normDomain(env.Helo); isDomainName(d) {
		out = append(out, d)
	}
	for _, d := range h.fromDomains {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// underDomain reports whether name is org or a subdomain of it.
func underDomain(name, org string) bool {
	return name == org || strings.HasSuffix(name, "."+org)
}

func (c *Checker) judgeIPRev(res *Result, o iprevOutcome, env envelope.Envelope, h header) {
	mode := c.opts.IPRev
	switch o.result {
	case "fail":
		res.Symbols = append(res.Symbols, Symbol{Name: "IPREV_FAIL", Score: scoreIPRevFail, Detail: o.reason})
		if mode == ModeReject || mode == ModeStrict {
			// RFC 7372 §3.3: 5.7.25 reverse DNS validation failed.
			rejectIfFirst(res, reply.New(550, "5.7.25", "Reverse DNS of %s is missing or does not match", env.RemoteIP.Unmap()))
		}
		return
	case "temperror":
		if mode == ModeReject || mode == ModeStrict {
			rejectIfFirst(res, reply.New(451, "4.7.25", "Reverse DNS of %s could not be checked, try again later", env.RemoteIP.Unmap()))
		}
		return
	}
	if mode != ModeStrict {
		return
	}
	// Strict: every domain the client sends for must be the
	// organisational domain of one of its confirmed names, or lie under
	// it. A server of spam.com sending as example.com is refused;
	// example.com's own server is accepted.
	for _, d := range senderDomains(env, h) {
		od := orgDomain(d)
		ok := slices.ContainsFunc(o.names, func(n string) bool { return underDomain(n, od) })
		if !ok {
			res.Symbols = append(res.Symbols, Symbol{Name: "IPREV_MISMATCH", Score: scoreIPRevFail, Detail: strings.Join(o.names, " ") + " is not in " + od})
			rejectIfFirst(res, reply.New(550, "5.7.25", "Reverse DNS name of %s does not match the sender domain %s", env.RemoteIP.Unmap(), d))
			return
		}
	}
}
