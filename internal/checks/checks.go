// Package checks is the receiving MTA's judgement of where a message comes
// from: SPF (RFC 7208) for MAIL FROM and HELO, DKIM verification
// (RFC 6376), DMARC (RFC 7489), iprev — forward-confirmed reverse DNS of
// the client (RFC 8601 §3) — and DNS blocklists. Every check runs on the
// inbound (port 25) service only; submission, authenticated sessions and
// trusted networks skip them (the SMTP server decides that).
//
// Each check has a mode: "off", "score" (its findings only weigh in the
// spam score, as Symbols) or "reject" (a failure refuses the message). DMARC
// has "enforce" instead of "reject": the sender domain's own policy decides
// (p=reject refuses, p=quarantine sends the message to Junk, pct honoured).
// iprev has "strict" on top of "reject": the client's confirmed PTR name
// must also lie in the sender's organisational domain, so a server of
// spam.com sending as example.com is refused while example.com's own
// server is accepted.
//
// All results go into one Authentication-Results header field (RFC 8601)
// whose authserv-id is the server's host name; StripAuthResults removes
// fields claiming that id which arrive from outside (RFC 8601 §5).
//
// Every DNS lookup goes through the configured Resolver (internal/dns), so
// tests can serve the records from internal/dnstest, and all the lookups
// of one message share one deadline (Options.Timeout): a check that runs
// out of time reports temperror. The libraries used are
// blitiri.com.ar/go/spf (which enforces RFC 7208 §4.6.4's lookup limits),
// github.com/emersion/go-msgauth (DKIM verification, DMARC record parsing)
// and golang.org/x/net/publicsuffix (organisational domains); DMARC's
// discovery, alignment and policy, iprev and DNSBL are written here.
package checks

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"pochta/internal/envelope"
	"pochta/internal/reply"
)

// Mode says what a check's failure does.
type Mode string

// Modes. Not every check takes every mode: ModeEnforce is DMARC's,
// ModeStrict iprev's.
const (
	ModeOff     Mode = "off"
	ModeScore   Mode = "score"
	ModeReject  Mode = "reject"
	ModeEnforce Mode = "enforce"
	ModeStrict  Mode = "strict"
)

// Symbol is one weighed finding that feeds the spam score.
type Symbol struct {
	Name   string  // e.g. "SPF_FAIL", "DKIM_INVALID", "DMARC_FAIL", "IPREV_FAIL", "DNSBL_ZEN_SPAMHAUS_ORG"
	Score  float64 // weight added to the spam score (negative for good signs, e.g. "DKIM_ALIGNED" -1)
	Detail string  // short human-readable reason, may be empty
}

// Result is the outcome of all sender-authentication checks of one message.
type Result struct {
	AuthResults string       // one complete "Authentication-Results: authserv-id; ..." header field, folded, CRLF-terminated (RFC 8601)
	Symbols     []Symbol     // findings with their weights
	Reject      *reply.Error // non-nil: refuse the message (check in "reject" mode failed, DMARC p=reject under "enforce", iprev "strict" mismatch)
	Quarantine  bool         // DMARC p=quarantine under "enforce": the message goes to Junk
}

// Resolver is the DNS the checks use (*dns.Resolver). Its errors must be
// *net.DNSError values telling "not found" from "temporary", as
// internal/dns's are.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
	LookupIP(ctx context.Context, host string) ([]netip.Addr, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, ip netip.Addr) ([]string, error)
}

// Options configure a Checker. Zero modes mean ModeOff.
type Options struct {
	// AuthservID names this server in Authentication-Results (its host name).
	AuthservID string
	SPF        Mode // off | score | reject
	DKIM       Mode // off | score | reject
	DMARC      Mode // off | score | enforce
	IPRev      Mode // off | score | reject | strict
	// DNSBL are the blocklist zones asked about the client IP.
	DNSBL    []string
	Resolver Resolver
	// MaxSignatures bounds the DKIM signatures verified per message (and
	// so the key lookups); further ones are ignored. Default 5.
	MaxSignatures int
	// Timeout bounds all DNS of the checks of one message; what has not
	// been answered by then is a temperror. Default 20s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Checker runs the checks. It is safe for concurrent use.
type Checker struct {
	opts Options
	log  *slog.Logger
}

// New returns a Checker.
func New(opts Options) *Checker {
	if opts.MaxSignatures <= 0 {
		opts.MaxSignatures = 5
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 20 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Checker{opts: opts, log: log}
}

// on reports whether a check runs at all.
func on(m Mode) bool { return m != "" && m != ModeOff }

// Weights of the symbols. Positive weights are bad signs; aligned
// authentication is a slightly good one.
const (
	scoreSPFFail       = 3.0
	scoreSPFSoftFail   = 1.0
	scoreSPFPermError  = 0.5
	scoreSPFAligned    = -0.5
	scoreDKIMInvalid   = 2.0
	scoreDKIMAligned   = -1.0
	scoreDMARCFail     = 4.0
	scoreDMARCFailNone = 1.0 // p=none: the domain only monitors
	scoreIPRevFail     = 2.0
	scoreDNSBLHit      = 5.0
)

// Check runs every enabled check on a message received from env.RemoteIP
// (env.From, env.Helo) whose content is as received, without our own
// trace fields. The error is non-nil only when ctx ended (the server is
// shutting down); a failed lookup is a temperror result, not an error.
func (c *Checker) Check(ctx context.Context, env envelope.Envelope, content []byte) (Result, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(parent, c.opts.Timeout)
	defer cancel()
	o := &c.opts
	hdr := parseHeader(content)

	var (
		wg    sync.WaitGroup
		spfR  spfOutcome
		dkimR []dkimOutcome
		revR  iprevOutcome
		blR   []dnsblOutcome
	)
	// DMARC needs SPF and DKIM even when they only feed DMARC.
	needAuth := on(o.DMARC)
	if on(o.SPF) || needAuth {
		wg.Go(func() { spfR = c.checkSPF(ctx, env) })
	}
	if on(o.DKIM) || needAuth {
		wg.Go(func() { dkimR = c.checkDKIM(ctx, content, hdr) })
	}
	if on(o.IPRev) {
		wg.Go(func() { revR = c.checkIPRev(ctx, env.RemoteIP) })
	}
	if len(o.DNSBL) > 0 {
		wg.Go(func() { blR = c.checkDNSBL(ctx, env.RemoteIP) })
	}
	wg.Wait()
	var dm dmarcOutcome
	if needAuth {
		dm = c.checkDMARC(ctx, hdr, spfR, dkimR)
	}
	if err := parent.Err(); err != nil {
		return Result{}, fmt.Errorf("checks: %w", err)
	}

	var res Result
	var ar []authResult
	if on(o.IPRev) {
		ar = append(ar, revR.authResult(env.RemoteIP))
		c.judgeIPRev(&res, revR, env, hdr)
	}
	if on(o.SPF) {
		ar = append(ar, spfR.authResults()...)
		c.judgeSPF(&res, spfR, dm)
	}
	if on(o.DKIM) {
		ar = append(ar, dkimAuthResults(dkimR)...)
		c.judgeDKIM(&res, dkimR, dm)
	}
	if on(o.DMARC) {
		ar = append(ar, dm.authResult())
		c.judgeDMARC(&res, dm)
	}
	for _, b := range blR {
		ar = append(ar, b.authResult())
		if b.listed {
			res.Symbols = append(res.Symbols, Symbol{Name: b.symbol(), Score: scoreDNSBLHit, Detail: b.zone + " lists " + env.RemoteIP.String()})
		}
	}
	if len(ar) > 0 {
		res.AuthResults = FormatAuthResults(o.AuthservID, ar)
	}
	return res, nil
}

// rejectIfFirst sets res.Reject unless an earlier check already did.
func rejectIfFirst(res *Result, e *reply.Error) {
	if res.Reject == nil {
		res.Reject = e
	}
}
