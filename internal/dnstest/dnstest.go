// Package dnstest runs a small authoritative DNS server on loopback for
// tests, so that code using internal/dns can be exercised against real DNS
// packets over real UDP and TCP sockets.
//
// Usage:
//
//	srv := dnstest.Start(t, dnstest.Zone{
//		"example.org":      {MX: []dnstest.MX{{Host: "mx.example.org", Pref: 10}}},
//		"mx.example.org":   {A: []string{"127.0.0.2"}},
//		"127.0.0.2":        {PTR: []string{"mx.example.org"}}, // an IP key is its reverse name
//		"sel._domainkey.example.org": {TXT: []string{"v=DKIM1; k=ed25519; p=..."}},
//	})
//	res := dns.New([]string{srv.Addr()}, time.Second)
//
// Names are case-insensitive and may be written with or without the final
// dot. A name not in the zone gets NXDOMAIN; a known name without records
// of the asked type gets NOERROR with an empty answer (NODATA). Records.Fail
// makes every query for a name answer SERVFAIL. Answers that do not fit a
// UDP response are truncated (TC bit), so clients must retry over TCP.
// The server stops when the test ends.
package dnstest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// MX is one MX record.
type MX struct {
	Host string
	Pref uint16
}

// Records are the records of one name.
type Records struct {
	MX   []MX
	A    []string // IPv4 addresses
	AAAA []string // IPv6 addresses
	// TXT holds one string per TXT record; strings longer than 255 bytes
	// are split into several character-strings of one record.
	TXT   []string
	PTR   []string
	CNAME string
	// TLSA records (RFC 6698).
	TLSA []TLSA
	// AD sets the AD bit on answers for this name, as a validating
	// resolver does for DNSSEC-authenticated data.
	AD bool
	// Fail answers SERVFAIL to every query for this name.
	Fail bool
}

// TLSA is one TLSA record; Data is the association data in hex.
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          string
}

// Zone maps a name (or an IP address, meaning its reverse PTR name) to its
// records.
type Zone map[string]Records

// Server is a running test DNS server.
type Server struct {
	t    testing.TB
	addr string

	mu      sync.Mutex
	zone    map[string]Records
	queries int
}

// Start starts a server on 127.0.0.1 (UDP and TCP on the same port)
// answering from zone. It is shut down by t.Cleanup.
func Start(t testing.TB, zone Zone) *Server {
	t.Helper()
	s := &Server{t: t, zone: map[string]Records{}}
	for name, r := range zone {
		s.Set(name, r)
	}
	// Find a port free for both UDP and TCP.
	var (
		pc net.PacketConn
		l  net.Listener
	)
	for range 20 {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dnstest: %v", err)
		}
		l, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatalf("dnstest: no free port for UDP and TCP")
	}
	s.addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serve)}
	tcp := &dns.Server{Listener: l, Handler: dns.HandlerFunc(s.serve)}
	var wg sync.WaitGroup
	started := make(chan struct{}, 2)
	udp.NotifyStartedFunc = func() { started <- struct{}{} }
	tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	for _, srv := range []*dns.Server{udp, tcp} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.ActivateAndServe()
		}()
	}
	<-started
	<-started
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		udp.ShutdownContext(ctx)
		tcp.ShutdownContext(ctx)
		wg.Wait()
	})
	return s
}

// Addr returns the server's "127.0.0.1:port", for dns.New.
func (s *Server) Addr() string { return s.addr }

// key normalises a zone key: lower case, fully qualified; an IP address
// becomes its in-addr.arpa / ip6.arpa name.
func key(name string) string {
	if ip, err := netip.ParseAddr(name); err == nil {
		if arpa, err := dns.ReverseAddr(ip.Unmap().String()); err == nil {
			return arpa
		}
	}
	return dns.Fqdn(strings.ToLower(name))
}

// Set replaces the records of name.
func (s *Server) Set(name string, r Records) {
	s.t.Helper()
	for _, a := range r.A {
		if ip, err := netip.ParseAddr(a); err != nil || !ip.Is4() {
			s.t.Fatalf("dnstest: %s: %q is not an IPv4 address", name, a)
		}
	}
	for _, a := range r.AAAA {
		if ip, err := netip.ParseAddr(a); err != nil || !ip.Is6() {
			s.t.Fatalf("dnstest: %s: %q is not an IPv6 address", name, a)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone[key(name)] = r
}

// Delete removes name, so queries for it get NXDOMAIN.
func (s *Server) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.zone, key(name))
}

// Queries returns how many queries the server has answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	s.mu.Lock()
	s.queries++
	name := strings.ToLower(q.Name)
	r, ok := s.zone[name]
	// Follow a CNAME chain inside the zone (bounded).
	for i := 0; ok && r.CNAME != "" && q.Qtype != dns.TypeCNAME && i < 8; i++ {
		target := dns.Fqdn(r.CNAME)
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr(name, dns.TypeCNAME), Target: target})
		name = strings.ToLower(target)
		r, ok = s.zone[name]
	}
	s.mu.Unlock()

	switch {
	case !ok:
		m.Rcode = dns.RcodeNameError
	case r.Fail:
		m.Answer = nil
		m.Rcode = dns.RcodeServerFailure
	default:
		m.Answer = append(m.Answer, answer(name, q.Qtype, r)...)
		m.AuthenticatedData = r.AD
	}

	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		if o := req.IsEdns0(); o != nil {
			m.SetEdns0(o.UDPSize(), false)
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 60}
}

func answer(name string, qtype uint16, r Records) []dns.RR {
	var out []dns.RR
	switch qtype {
	case dns.TypeMX:
		for _, mx := range r.MX {
			out = append(out, &dns.MX{Hdr: hdr(name, qtype), Preference: mx.Pref, Mx: dns.Fqdn(mx.Host)})
		}
	case dns.TypeA:
		for _, a := range r.A {
			out = append(out, &dns.A{Hdr: hdr(name, qtype), A: net.ParseIP(a).To4()})
		}
	case dns.TypeAAAA:
		for _, a := range r.AAAA {
			out = append(out, &dns.AAAA{Hdr: hdr(name, qtype), AAAA: net.ParseIP(a)})
		}
	case dns.TypeTXT:
		for _, txt := range r.TXT {
			out = append(out, &dns.TXT{Hdr: hdr(name, qtype), Txt: split255(txt)})
		}
	case dns.TypePTR:
		for _, p := range r.PTR {
			out = append(out, &dns.PTR{Hdr: hdr(name, qtype), Ptr: dns.Fqdn(p)})
		}
	case dns.TypeTLSA:
		for _, t := range r.TLSA {
			out = append(out, &dns.TLSA{Hdr: hdr(name, qtype), Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Certificate: t.Data})
		}
	case dns.TypeCNAME:
		if r.CNAME != "" {
			out = append(out, &dns.CNAME{Hdr: hdr(name, qtype), Target: dns.Fqdn(r.CNAME)})
		}
	}
	return out
}

// split255 splits s into character-strings of at most 255 bytes
// (RFC 1035 §3.3).
func split255(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}
