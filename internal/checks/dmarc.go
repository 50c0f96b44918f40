package checks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"pochta/internal/dns"
	"pochta/internal/reply"
)

// dmarcOutcome is the DMARC evaluation of a message (RFC 7489 §6.6).
type dmarcOutcome struct {
	result      string // pass | fail | none | temperror | permerror
	reason      string
	fromDomain  string
	policy      dmarc.Policy // the policy that applies (p, or sp for a subdomain), after pct sampling
	published   dmarc.Policy // the policy as published, for the comment
	sampledOut  bool         // pct excluded the message from the policy
	spfAligned  bool         // SPF passed for a domain aligned with From
	dkimAligned bool         // a valid DKIM signature's d= is aligned with From
}

// orgDomain returns the organisational domain of d (RFC 7489 §3.2): one
// label below its public suffix. A name that is itself a public suffix,
// or has no known suffix, is its own organisational domain.
func orgDomain(d string) string {
	d = normDomain(d)
	if od, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return od
	}
	return d
}

// aligned compares an authenticated domain with the From domain
// (RFC 7489 §3.1): strict needs them equal, relaxed the same
// organisational domain.
func aligned(auth, from string, mode dmarc.AlignmentMode) bool {
	auth, from = normDomain(auth), normDomain(from)
	if auth == "" || from == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return auth == from
	}
	return orgDomain(auth) == orgDomain(from)
}

// lookupDMARC finds the record for domain (RFC 7489 §6.6.3): at
// _dmarc.domain, else at _dmarc.<organisational domain>. sub reports that
// the record came from the organisational domain (so sp= applies).
func (c *Checker) lookupDMARC(ctx context.Context, domain string) (rec *dmarc.Record, sub bool, err error) {
	rec, err = c.dmarcRecord(ctx, domain)
	if rec != nil || err != nil {
		return rec, false, err
	}
	if od := orgDomain(domain); od != domain {
		rec, err = c.dmarcRecord(ctx, od)
		return rec, true, err
	}
	return nil, false, nil
}

// errDMARCSyntax marks a record that exists but does not parse.
type errDMARCSyntax struct{ err error }

func (e errDMARCSyntax) Error() string { return e.err.Error() }

// dmarcRecord returns the one DMARC record at _dmarc.domain, nil when
// there is none (or more than one: RFC 7489 §6.6.3 step 4), an error for a
// temporary failure or an invalid record.
func (c *Checker) dmarcRecord(ctx context.Context, domain string) (*dmarc.Record, error) {
	txts, err := c.opts.Resolver.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		if dns.IsTemporary(err) || ctx.Err() != nil {
			return nil, err
		}
		return nil, nil
	}
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return nil, nil
	}
	rec, err := dmarc.Parse(recs[0])
	if err != nil {
		return nil, errDMARCSyntax{err}
	}
	return rec, nil
}

func (c *Checker) checkDMARC(ctx context.Context, h header, sp spfOutcome, dk []dkimOutcome) dmarcOutcome {
	var o dmarcOutcome
	switch {
	case len(h.fromDomains) == 0:
		o.result, o.reason = "none", "no From domain"
		return o
	case len(h.fromDomains) > 1:
		// RFC 7489 §6.6.1: several From domains cannot be evaluated.
		o.result, o.reason = "permerror", "several From domains"
		return o
	}
	o.fromDomain = h.fromDomains[0]
	rec, sub, err := c.lookupDMARC(ctx, o.fromDomain)
	switch {
	case err != nil:
		if _, syntax := err.(errDMARCSyntax); syntax {
			o.result, o.reason = "permerror", reasonText(err)
		} else {
			o.result, o.reason = "temperror", reasonText(err)
		}
		return o
	case rec == nil:
		o.result = "none"
		return o
	}
	o.published = rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		o.published = rec.SubdomainPolicy
	}
	o.spfAligned = sp.result == spf.Pass && aligned(sp.domain, o.fromDomain, rec.SPFAlignment)
	for _, d := range dk {
		if d.result == "pass" && aligned(d.domain, o.fromDomain, rec.DKIMAlignment) {
			o.dkimAligned = true
		}
	}
	if o.spfAligned || o.dkimAligned {
		o.result, o.policy = "pass", dmarc.PolicyNone
		return o
	}
	o.result, o.policy = "fail", o.published
	// RFC 7489 §6.6.4: a message not sampled by pct gets the next less
	// strict policy.
	if rec.Percent != nil && *rec.Percent < 100 && rand.IntN(100) >= *rec.Percent {
		o.sampledOut = true
		switch o.policy {
		case dmarc.PolicyReject:
			o.policy = dmarc.PolicyQuarantine
		case dmarc.PolicyQuarantine:
			o.policy = dmarc.PolicyNone
		}
	}
	return o
}

func (o dmarcOutcome) authResult() authResult {
	ar := authResult{Method: "dmarc", Result: o.result, Reason: o.reason}
	if o.published != "" {
		ar.Comment = "p=" + string(o.published)
		if o.sampledOut {
			ar.Comment += fmt.Sprintf(", pct: applied %s", o.policy)
		}
	}
	if o.fromDomain != "" {
		ar.Props = []prop{{"header", "from", o.fromDomain}}
	}
	return ar
}

func (c *Checker) judgeDMARC(res *Result, o dmarcOutcome) {
	if o.result != "fail" {
		return
	}
	score := scoreDMARCFail
	if o.published == dmarc.PolicyNone {
		score = scoreDMARCFailNone
	}
	res.Symbols = append(res.Symbols, Symbol{Name: "DMARC_FAIL", Score: score, Detail: fmt.Sprintf("%s p=%s", o.fromDomain, o.published)})
	if c.opts.DMARC != ModeEnforce {
		return
	}
	switch o.policy {
	case dmarc.PolicyReject:
		rejectIfFirst(res, reply.New(550, "5.7.1", "Message refused by the DMARC policy of %s", o.fromDomain))
	case dmarc.PolicyQuarantine:
		res.Quarantine = true
	}
}
