package dns

import (
	"context"
	"net"

	mdns "github.com/miekg/dns"
)

// LookupRR returns the records of type qtype at name as the resolver's
// servers answer (the web admin's check of what a domain publishes).
// With the system resolver it asks the servers of /etc/resolv.conf.
func (r *Resolver) LookupRR(ctx context.Context, name string, qtype uint16) ([]mdns.RR, error) {
	if r.system == nil {
		return r.query(ctx, name, qtype)
	}
	cc, err := mdns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cc.Servers) == 0 {
		return nil, newError(name, "", ErrTemporary, "no DNS server in /etc/resolv.conf")
	}
	servers := make([]string, 0, len(cc.Servers))
	for _, s := range cc.Servers {
		servers = append(servers, net.JoinHostPort(s, cc.Port))
	}
	sys := &Resolver{servers: servers, timeout: r.timeout}
	return sys.query(ctx, name, qtype)
}
