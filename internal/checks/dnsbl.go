package checks

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"pochta/internal/dns"
)

// dnsblOutcome is one blocklist zone's answer about the client IP.
type dnsblOutcome struct {
	zone   string
	listed bool
	answer string // the A record of a listing (its meaning is the zone's)
	temp   bool
}

// reverseName returns the DNSBL query label sequence of ip: the octets of
// an IPv4 address in reverse, the nibbles of an IPv6 address in reverse
// (RFC 5782 §2.1, §2.4).
func reverseName(ip netip.Addr) string {
	ip = ip.Unmap()
	b := ip.AsSlice()
	var parts []string
	if ip.Is4() {
		for i := len(b) - 1; i >= 0; i-- {
			parts = append(parts, fmt.Sprint(b[i]))
		}
	} else {
		for i := len(b) - 1; i >= 0; i-- {
			parts = append(parts, fmt.Sprintf("%x", b[i]&0xf), fmt.Sprintf("%x", b[i]>>4))
		}
	}
	return strings.Join(parts, ".")
}

// checkDNSBL asks every zone about ip: an A record in 127.0.0.0/8 is a
// listing (RFC 5782 §2.1, §5: other answers are errors of the list).
func (c *Checker) checkDNSBL(ctx context.Context, ip netip.Addr) []dnsblOutcome {
	rev := reverseName(ip)
	out := make([]dnsblOutcome, 0, len(c.opts.DNSBL))
	for _, zone := range c.opts.DNSBL {
		zone = normDomain(zone)
		o := dnsblOutcome{zone: zone}
		ips, err := c.opts.Resolver.LookupIP(ctx, rev+"."+zone)
		switch {
		case err != nil:
			o.temp = dns.IsTemporary(err) || ctx.Err() != nil
		default:
			for _, a := range ips {
				if a.Is4() && a.As4()[0] == 127 {
					o.listed, o.answer = true, a.String()
					break
				}
			}
		}
		out = append(out, o)
	}
	return out
}

// symbol names the zone's symbol: DNSBL_ZEN_SPAMHAUS_ORG.
func (o dnsblOutcome) symbol() string {
	return "DNSBL_" + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, o.zone)
}

// authResult renders the listing as "x-dnsbl=fail dns.zone=Z
// policy.ip=127.0.0.2": no DNSBL method is registered for RFC 8601, so
// the name carries the experimental prefix and the properties follow the
// registered dnswl method (RFC 8904 §3).
func (o dnsblOutcome) authResult() authResult {
	ar := authResult{Method: "x-dnsbl", Result: "pass", Props: []prop{{"dns", "zone", o.zone}}}
	switch {
	case o.listed:
		ar.Result = "fail"
		ar.Props = append(ar.Props, prop{"policy", "ip", o.answer})
	case o.temp:
		ar.Result = "temperror"
	}
	return ar
}
