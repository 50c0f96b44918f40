package dns_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"pochta/internal/dns"
	"pochta/internal/dnstest"
)

func setup(t *testing.T) (*dnstest.Server, *dns.Resolver) {
	t.Helper()
	long := strings.Repeat("k", 600)
	srv := dnstest.Start(t, dnstest.Zone{
		"example.org": {
			MX:  []dnstest.MX{{Host: "mx2.example.org", Pref: 20}, {Host: "mx1.example.org", Pref: 10}},
			TXT: []string{"v=spf1 mx -all", long},
		},
		"mx1.example.org": {A: []string{"127.0.0.2"}, AAAA: []string{"::1"}},
		"v6.example.org":  {AAAA: []string{"::1"}},
		"empty.example":   {},
		"broken.example":  {Fail: true},
		"alias.example":   {CNAME: "mx1.example.org"},
		"null.example":    {MX: []dnstest.MX{{Host: ".", Pref: 0}}},
		"127.0.0.2":       {PTR: []string{"mx1.example.org"}},
		"big.example":     {TXT: bigTXT()},
	})
	return srv, dns.New([]string{srv.Addr()}, 2*time.Second)
}

func bigTXT() []string {
	var out []string
	for i := range 40 {
		out = append(out, strings.Repeat(string(rune('a'+i%26)), 100))
	}
	return out
}

func TestLookupMX(t *testing.T) {
	_, r := setup(t)
	ctx := context.Background()
	mxs, err := r.LookupMX(ctx, "Example.ORG")
	if err != nil {
		t.Fatal(err)
	}
	if len(mxs) != 2 || mxs[0].Host != "mx1.example.org." || mxs[0].Pref != 10 || mxs[1].Host != "mx2.example.org." {
		t.Fatalf("got %+v %+v", mxs[0], mxs[1])
	}
	mxs, err = r.LookupMX(ctx, "null.example")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "." {
		t.Fatalf("null MX: %v %v", mxs, err)
	}
}

func TestLookupIP(t *testing.T) {
	_, r := setup(t)
	ctx := context.Background()
	ips, err := r.LookupIP(ctx, "mx1.example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")}
	if !slices.Equal(ips, want) {
		t.Fatalf("got %v want %v", ips, want)
	}
	ips, err = r.LookupIP(ctx, "v6.example.org")
	if err != nil || len(ips) != 1 || ips[0] != netip.MustParseAddr("::1") {
		t.Fatalf("AAAA only: %v %v", ips, err)
	}
	ips, err = r.LookupIP(ctx, "alias.example")
	if err != nil || len(ips) != 2 {
		t.Fatalf("CNAME: %v %v", ips, err)
	}
	if _, err := r.LookupIP(ctx, "empty.example"); !errors.Is(err, dns.ErrNotFound) || errors.Is(err, dns.ErrNXDomain) {
		t.Fatalf("NODATA: %v", err)
	}
	addrs, err := r.LookupIPAddr(ctx, "mx1.example.org")
	if err != nil || len(addrs) != 2 || !addrs[0].IP.Equal(net.IPv4(127, 0, 0, 2)) {
		t.Fatalf("LookupIPAddr: %v %v", addrs, err)
	}
}

func TestLookupTXT(t *testing.T) {
	_, r := setup(t)
	txts, err := r.LookupTXT(context.Background(), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	// The 600-byte record travels as three character-strings and comes
	// back joined.
	if len(txts) != 2 || txts[0] != "v=spf1 mx -all" || txts[1] != strings.Repeat("k", 600) {
		t.Fatalf("got %q", txts)
	}
}

// TestTruncatedFallsBackToTCP: 4000 bytes of TXT do not fit in UDP; the
// server sets TC and the resolver must re-ask over TCP.
func TestTruncatedFallsBackToTCP(t *testing.T) {
	_, r := setup(t)
	txts, err := r.LookupTXT(context.Background(), "big.example")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(txts, bigTXT()) {
		t.Fatalf("got %d records", len(txts))
	}
}

func TestLookupAddr(t *testing.T) {
	_, r := setup(t)
	names, err := r.LookupAddr(context.Background(), netip.MustParseAddr("127.0.0.2"))
	if err != nil || len(names) != 1 || names[0] != "mx1.example.org." {
		t.Fatalf("got %v %v", names, err)
	}
	_, err = r.LookupAddr(context.Background(), netip.MustParseAddr("127.0.0.9"))
	if !dns.IsNotFound(err) {
		t.Fatalf("unknown PTR: %v", err)
	}
}

func TestErrors(t *testing.T) {
	srv, r := setup(t)
	ctx := context.Background()

	_, err := r.LookupMX(ctx, "nonexistent.example")
	if !errors.Is(err, dns.ErrNXDomain) || !errors.Is(err, dns.ErrNotFound) || dns.IsTemporary(err) {
		t.Fatalf("NXDOMAIN: %v", err)
	}
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound || de.Temporary() {
		t.Fatalf("NXDOMAIN as net.DNSError: %#v", err)
	}

	_, err = r.LookupMX(ctx, "empty.example")
	if !errors.Is(err, dns.ErrNotFound) || errors.Is(err, dns.ErrNXDomain) {
		t.Fatalf("NODATA: %v", err)
	}
	_, err = r.LookupTXT(ctx, "mx1.example.org")
	if !errors.Is(err, dns.ErrNotFound) {
		t.Fatalf("NODATA TXT: %v", err)
	}

	_, err = r.LookupTXT(ctx, "broken.example")
	if !errors.Is(err, dns.ErrTemporary) || dns.IsNotFound(err) {
		t.Fatalf("SERVFAIL: %v", err)
	}
	// go-msgauth classifies with net.Error.Temporary.
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Temporary() {
		t.Fatalf("SERVFAIL not net.Error temporary: %v", err)
	}

	// Records change during a test.
	srv.Set("nonexistent.example", dnstest.Records{MX: []dnstest.MX{{Host: "mx1.example.org", Pref: 5}}})
	if mxs, err := r.LookupMX(ctx, "nonexistent.example"); err != nil || len(mxs) != 1 {
		t.Fatalf("after Set: %v %v", mxs, err)
	}
	srv.Delete("nonexistent.example")
	if _, err := r.LookupMX(ctx, "nonexistent.example"); !errors.Is(err, dns.ErrNXDomain) {
		t.Fatalf("after Delete: %v", err)
	}
}

// TestTimeout: a server that never answers gives a temporary error, and
// the next configured server is asked.
func TestTimeoutAndNextServer(t *testing.T) {
	srv, _ := setup(t)
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	r := dns.New([]string{silent.LocalAddr().String()}, 200*time.Millisecond)
	start := time.Now()
	_, err = r.LookupMX(context.Background(), "example.org")
	if !dns.IsTemporary(err) {
		t.Fatalf("timeout: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("timeout took %v", d)
	}

	r = dns.New([]string{silent.LocalAddr().String(), srv.Addr()}, 200*time.Millisecond)
	if mxs, err := r.LookupMX(context.Background(), "example.org"); err != nil || len(mxs) != 2 {
		t.Fatalf("second server: %v %v", mxs, err)
	}
}

func TestInvalidName(t *testing.T) {
	_, r := setup(t)
	_, err := r.LookupMX(context.Background(), "bad..name")
	if !dns.IsNotFound(err) {
		t.Fatalf("got %v", err)
	}
}

// TestSystemResolverLiteral: the system resolver mode resolves an IP
// literal without any network traffic.
func TestSystemResolverLiteral(t *testing.T) {
	r := dns.New(nil, time.Second)
	ips, err := r.LookupIP(context.Background(), "127.0.0.5")
	if err != nil || len(ips) != 1 || ips[0] != netip.MustParseAddr("127.0.0.5") {
		t.Fatalf("got %v %v", ips, err)
	}
}

// TestLookupTLSA: records with the AD bit as the server set it; SERVFAIL
// is temporary; no records is not found.
func TestLookupTLSA(t *testing.T) {
	srv, r := setup(t)
	rec := dnstest.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: strings.Repeat("ab", 32)}
	srv.Set("_25._tcp.secure.example", dnstest.Records{TLSA: []dnstest.TLSA{rec}, AD: true})
	srv.Set("_25._tcp.insecure.example", dnstest.Records{TLSA: []dnstest.TLSA{rec}})
	srv.Set("_25._tcp.fail.example", dnstest.Records{Fail: true})
	ctx := context.Background()
	for name, wantAD := range map[string]bool{"_25._tcp.secure.example": true, "_25._tcp.insecure.example": false} {
		got, ad, err := r.LookupTLSA(ctx, name)
		if err != nil || ad != wantAD || len(got) != 1 || got[0].Usage != 3 || got[0].Selector != 1 || got[0].MatchingType != 1 || len(got[0].Data) != 32 || got[0].Data[0] != 0xab {
			t.Fatalf("%s: %+v %v %v", name, got, ad, err)
		}
	}
	if _, _, err := r.LookupTLSA(ctx, "_25._tcp.fail.example"); !dns.IsTemporary(err) {
		t.Fatalf("SERVFAIL: %v", err)
	}
	if _, _, err := r.LookupTLSA(ctx, "_25._tcp.nothing.example"); !dns.IsNotFound(err) {
		t.Fatalf("none: %v", err)
	}
}
