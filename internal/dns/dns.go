// Package dns is the DNS resolver every part of pochta uses: MX, A/AAAA,
// TXT and PTR lookups with errors that tell "this does not exist" (a
// permanent answer, RFC 2308 NXDOMAIN or NODATA) apart from "could not find
// out right now" (SERVFAIL, timeouts), because mail delivery must bounce on
// the first and retry on the second (RFC 5321 §5.1, §4.5.4.1).
//
// With no configured servers it uses the system resolver (net.Resolver);
// otherwise it asks the configured servers itself with github.com/miekg/dns,
// over UDP and again over TCP when an answer comes back truncated
// (RFC 1035 §4.2.1, RFC 7766).
//
// With the system resolver NXDOMAIN and NODATA cannot be told apart: both
// are ErrNotFound, never ErrNXDomain.
//
// Every error is a *net.DNSError whose Unwrap gives ErrNotFound,
// ErrNXDomain (which itself wraps ErrNotFound) or ErrTemporary, so both
// errors.Is and code written for the standard library (IsNotFound,
// Temporary(), as go-msgauth and SPF libraries check) understand them.
package dns

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFound: the name has no record of the asked type (NODATA) or
	// does not exist at all (NXDOMAIN). A permanent answer.
	ErrNotFound = errors.New("dns: no such record")
	// ErrNXDomain: the name itself does not exist (RCODE 3). It wraps
	// ErrNotFound, so errors.Is(err, ErrNotFound) also holds.
	ErrNXDomain = fmt.Errorf("%w: no such domain", ErrNotFound)
	// ErrTemporary: SERVFAIL, REFUSED, a timeout or a network error; the
	// answer is unknown and the lookup may succeed later.
	ErrTemporary = errors.New("dns: temporary failure")
)

// maxUDPSize is the EDNS0 buffer size we advertise (the 2020 DNS flag day
// recommendation); larger answers come back truncated and are re-asked
// over TCP.
const maxUDPSize = 1232

// Resolver looks names up. Its methods are safe for concurrent use.
type Resolver struct {
	servers []string
	timeout time.Duration
	system  *net.Resolver
}

// New returns a resolver that queries servers ("ip:port") in order, each
// query bounded by timeout (default 5s). With no servers it uses the
// system resolver.
func New(servers []string, timeout time.Duration) *Resolver {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	r := &Resolver{servers: slices.Clone(servers), timeout: timeout}
	if len(servers) == 0 {
		r.system = &net.Resolver{}
	}
	return r
}

func newError(name, server string, kind error, msg string) *net.DNSError {
	return &net.DNSError{
		UnwrapErr:   kind,
		Err:         msg,
		Name:        name,
		Server:      server,
		IsNotFound:  errors.Is(kind, ErrNotFound),
		IsTemporary: errors.Is(kind, ErrTemporary),
	}
}

// fromSystem converts an error from net.Resolver to our classification.
func fromSystem(name string, err error) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		switch {
		case de.IsNotFound:
			// The standard library reports NXDOMAIN and NODATA alike
			// ("no such host"), so only ErrNotFound can be claimed.
			return newError(name, de.Server, ErrNotFound, de.Err)
		case de.IsTimeout:
			e := newError(name, de.Server, ErrTemporary, de.Err)
			e.IsTimeout = true
			return e
		}
		return newError(name, de.Server, ErrTemporary, de.Err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		e := newError(name, "", ErrTemporary, err.Error())
		e.IsTimeout = true
		return e
	}
	return newError(name, "", ErrTemporary, err.Error())
}

// query asks the configured servers in turn for name/qtype and returns the
// answer records of type qtype (CNAME chains inside the answer section are
// followed implicitly by accepting any record of the asked type).
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) ([]mdns.RR, error) {
	rrs, _, err := r.queryAD(ctx, name, qtype)
	return rrs, err
}

// queryAD is query that also reports the answer's AD bit: whether the
// (validating) server says the answer is DNSSEC-authenticated. The
// request sets AD to ask for it (RFC 6840 §5.7).
func (r *Resolver) queryAD(ctx context.Context, name string, qtype uint16) ([]mdns.RR, bool, error) {
	fqdn := mdns.Fqdn(name)
	if _, ok := mdns.IsDomainName(fqdn); !ok || len(fqdn) > 255 {
		return nil, false, newError(name, "", ErrNXDomain, "invalid domain name")
	}
	m := new(mdns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.RecursionDesired = true
	m.AuthenticatedData = true
	m.SetEdns0(maxUDPSize, false)

	var last *net.DNSError
	for _, server := range r.servers {
		if err := ctx.Err(); err != nil {
			return nil, false, newError(name, server, ErrTemporary, err.Error())
		}
		resp, err := r.exchange(ctx, m, server)
		if err != nil {
			last = newError(name, server, ErrTemporary, err.Error())
			var ne net.Error
			last.IsTimeout = errors.As(err, &ne) && ne.Timeout()
			continue
		}
		switch resp.Rcode {
		case mdns.RcodeSuccess:
			var out []mdns.RR
			for _, rr := range resp.Answer {
				if rr.Header().Rrtype == qtype {
					out = append(out, rr)
				}
			}
			if len(out) == 0 {
				return nil, false, newError(name, server, ErrNotFound, "no such record")
			}
			return out, resp.AuthenticatedData, nil
		case mdns.RcodeNameError:
			return nil, false, newError(name, server, ErrNXDomain, "no such host")
		default:
			// SERVFAIL, REFUSED, FORMERR…: another server may do better.
			last = newError(name, server, ErrTemporary, "server answered "+mdns.RcodeToString[resp.Rcode])
		}
	}
	if last == nil {
		last = newError(name, "", ErrTemporary, "no DNS server configured")
	}
	return nil, false, last
}

// exchange sends m to server over UDP, and over TCP if the UDP answer is
// truncated.
func (r *Resolver) exchange(ctx context.Context, m *mdns.Msg, server string) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	c := &mdns.Client{Net: "udp", Timeout: r.timeout, UDPSize: maxUDPSize}
	resp, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && resp.Truncated {
		c = &mdns.Client{Net: "tcp", Timeout: r.timeout}
		resp, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, err
	}
	if resp.Id != m.Id {
		return nil, errors.New("mismatched DNS response id")
	}
	return resp, nil
}

// LookupMX returns the MX records of domain sorted by preference. A null
// MX (RFC 7505) is returned as a single record with Host ".". Host names
// are returned fully qualified (with a trailing dot), as net.LookupMX does.
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	mxs, _, err := r.LookupMXSecure(ctx, domain)
	return mxs, err
}

// LookupMXSecure is LookupMX that also reports whether the (validating)
// server said the answer is DNSSEC-authenticated, its AD bit: DANE
// applies to MX hosts only when it is (RFC 7672 §2.2.1). The system
// resolver never says so.
func (r *Resolver) LookupMXSecure(ctx context.Context, domain string) ([]*net.MX, bool, error) {
	if r.system != nil {
		mxs, err := r.system.LookupMX(ctx, domain)
		if err != nil && len(mxs) == 0 {
			return nil, false, fromSystem(domain, err)
		}
		return mxs, false, nil
	}
	rrs, secure, err := r.queryAD(ctx, domain, mdns.TypeMX)
	if err != nil {
		return nil, false, err
	}
	out := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*mdns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	return out, secure, nil
}

// LookupIP returns the IPv4 (A) and IPv6 (AAAA) addresses of host. It
// succeeds if either family has addresses; if neither has, the error is
// temporary when either lookup failed temporarily, else ErrNotFound (and
// ErrNXDomain when the name does not exist).
func (r *Resolver) LookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	if r.system != nil {
		ips, err := r.system.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fromSystem(host, err)
		}
		for i := range ips {
			ips[i] = ips[i].Unmap()
		}
		return ips, nil
	}
	var out []netip.Addr
	var errs [2]error
	for i, qt := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
		rrs, err := r.query(ctx, host, qt)
		errs[i] = err
		for _, rr := range rrs {
			var ip net.IP
			switch v := rr.(type) {
			case *mdns.A:
				ip = v.A
			case *mdns.AAAA:
				ip = v.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, a.Unmap())
			}
		}
		// NXDOMAIN for A means no AAAA either (RFC 8020).
		if i == 0 && errors.Is(err, ErrNXDomain) {
			return nil, err
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, err := range errs {
		if errors.Is(err, ErrTemporary) {
			return nil, err
		}
	}
	return nil, errs[0]
}

// LookupTXT returns the TXT records of name, the strings of each record
// concatenated (as net.LookupTXT does, and as DKIM and SPF need).
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if r.system != nil {
		txts, err := r.system.LookupTXT(ctx, name)
		if err != nil {
			return nil, fromSystem(name, err)
		}
		return txts, nil
	}
	rrs, err := r.query(ctx, name, mdns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*mdns.TXT).Txt, ""))
	}
	return out, nil
}

// TLSA is one TLSA record (RFC 6698 §2.1).
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte // certificate association data
}

// LookupTLSA returns the TLSA records of name (e.g. "_25._tcp.mx.example.org")
// and whether the answer is DNSSEC-authenticated (the AD bit from the
// configured, validating resolver; RFC 7672 §2.2). The system resolver
// cannot report it: with it every answer is unauthenticated.
func (r *Resolver) LookupTLSA(ctx context.Context, name string) ([]TLSA, bool, error) {
	if r.system != nil {
		return nil, false, newError(name, "", ErrNotFound, "TLSA needs configured DNS servers")
	}
	rrs, ad, err := r.queryAD(ctx, name, mdns.TypeTLSA)
	if err != nil {
		return nil, false, err
	}
	out := make([]TLSA, 0, len(rrs))
	for _, rr := range rrs {
		t := rr.(*mdns.TLSA)
		data, err := hex.DecodeString(t.Certificate)
		if err != nil {
			continue
		}
		out = append(out, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
	}
	return out, ad, nil
}

// LookupAddr returns the PTR names of ip (fully qualified, with a trailing
// dot).
func (r *Resolver) LookupAddr(ctx context.Context, ip netip.Addr) ([]string, error) {
	if r.system != nil {
		names, err := r.system.LookupAddr(ctx, ip.String())
		if err != nil {
			return nil, fromSystem(ip.String(), err)
		}
		return names, nil
	}
	arpa, err := mdns.ReverseAddr(ip.Unmap().String())
	if err != nil {
		return nil, newError(ip.String(), "", ErrNotFound, "invalid address")
	}
	rrs, err := r.query(ctx, arpa, mdns.TypePTR)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, rr.(*mdns.PTR).Ptr)
	}
	return out, nil
}

// LookupIPAddr is LookupIP in the shape of net.Resolver.LookupIPAddr, for
// libraries (SPF checkers) that take a resolver interface of that shape.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := r.LookupIP(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	}
	return out, nil
}

// TXTFunc returns a LookupTXT bound to ctx in the shape go-msgauth's DKIM
// and DMARC verifiers take (func(domain string) ([]string, error)).
func (r *Resolver) TXTFunc(ctx context.Context) func(name string) ([]string, error) {
	return func(name string) ([]string, error) { return r.LookupTXT(ctx, name) }
}

// IsNotFound reports whether err says the record or name does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsTemporary reports whether err is a temporary lookup failure.
func IsTemporary(err error) bool { return errors.Is(err, ErrTemporary) }
