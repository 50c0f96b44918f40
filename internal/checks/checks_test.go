package checks

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"pochta/internal/dkim"
	"pochta/internal/dns"
	"pochta/internal/dnstest"
	"pochta/internal/envelope"
)

// zone serves the records of these tests: good.test's server is
// 127.0.0.2 (mail.good.test), with DMARC p=reject; quar.test has
// p=quarantine; 127.0.0.9 is listed in bl.test.
func zone(t *testing.T) *dnstest.Server {
	return dnstest.Start(t, dnstest.Zone{
		"127.0.0.2":          {PTR: []string{"mail.good.test"}},
		"mail.good.test":     {A: []string{"127.0.0.2"}},
		"good.test":          {TXT: []string{"v=spf1 ip4:127.0.0.2 -all"}},
		"_dmarc.good.test":   {TXT: []string{"v=DMARC1; p=reject; adkim=s"}},
		"quar.test":          {TXT: []string{"v=spf1 ip4:127.0.0.2 -all"}},
		"_dmarc.quar.test":   {TXT: []string{"v=DMARC1; p=quarantine"}},
		"twice.test":         {TXT: []string{"v=spf1 -all"}},
		"_dmarc.twice.test":  {TXT: []string{"v=DMARC1; p=reject", "v=DMARC1; p=none"}},
		"bad.test":           {TXT: []string{"v=spf1 -all"}},
		"_dmarc.bad.test":    {TXT: []string{"v=DMARC1; p=whatever"}},
		"9.0.0.127.bl.test":  {A: []string{"127.0.0.4"}},
		"::1":                {PTR: []string{"v6.good.test"}},
		"v6.good.test":       {AAAA: []string{"::1"}},
		"9.0.0.127.odd.test": {A: []string{"10.0.0.1"}}, // not a listing (RFC 5782 §2.1)
	})
}

func newChecker(srv *dnstest.Server, o Options) *Checker {
	o.AuthservID = "mx.test"
	o.Resolver = dns.New([]string{srv.Addr()}, time.Second)
	return New(o)
}

func all(o Options) Options {
	o.SPF, o.DKIM, o.DMARC, o.IPRev = ModeScore, ModeScore, ModeEnforce, ModeScore
	return o
}

func msg(from string) []byte {
	return []byte("From: Someone <" + from + ">\r\nSubject: hi\r\n\r\nhello\r\n")
}

func env(ip, helo, from string) envelope.Envelope {
	return envelope.Envelope{From: from, Helo: helo, RemoteIP: netip.MustParseAddr(ip)}
}

func symbols(r Result) map[string]float64 {
	m := map[string]float64{}
	for _, s := range r.Symbols {
		m[s.Name] = s.Score
	}
	return m
}

func TestSymbolsAndVerdicts(t *testing.T) {
	srv := zone(t)
	c := newChecker(srv, all(Options{DNSBL: []string{"bl.test", "odd.test"}}))
	ctx := context.Background()

	// Forged good.test from a listed address: SPF fail, DMARC p=reject,
	// iprev fail, DNSBL hit.
	r, err := c.Check(ctx, env("127.0.0.9", "x.test", "a@good.test"), msg("a@good.test"))
	if err != nil {
		t.Fatal(err)
	}
	s := symbols(r)
	if s["SPF_FAIL"] != scoreSPFFail || s["DMARC_FAIL"] != scoreDMARCFail || s["IPREV_FAIL"] != scoreIPRevFail || s["DNSBL_BL_TEST"] != scoreDNSBLHit {
		t.Fatalf("symbols %v", r.Symbols)
	}
	if _, ok := s["DNSBL_ODD_TEST"]; ok {
		t.Fatalf("an answer outside 127/8 is not a listing: %v", r.Symbols)
	}
	if r.Reject == nil || r.Reject.Code != 550 || r.Reject.Enhanced != "5.7.1" || r.Quarantine {
		t.Fatalf("reject %v quarantine %v", r.Reject, r.Quarantine)
	}

	// The real server: SPF pass aligned, iprev pass, nothing to hold
	// against it.
	r, _ = c.Check(ctx, env("127.0.0.2", "mail.good.test", "a@good.test"), msg("a@good.test"))
	if s := symbols(r); len(s) != 1 || s["SPF_ALIGNED"] >= 0 || r.Reject != nil {
		t.Fatalf("good sender: symbols %v reject %v\n%s", r.Symbols, r.Reject, r.AuthResults)
	}

	// p=quarantine: to Junk, not refused.
	r, _ = c.Check(ctx, env("127.0.0.9", "x.test", "x@other.test"), msg("a@quar.test"))
	if !r.Quarantine || r.Reject != nil {
		t.Fatalf("quarantine %v reject %v", r.Quarantine, r.Reject)
	}

	// Two DMARC records are no record (RFC 7489 §6.6.3); an invalid one
	// is a permerror; neither applies a policy.
	for from, want := range map[string]string{"a@twice.test": "dmarc=none", "a@bad.test": "dmarc=permerror"} {
		r, _ = c.Check(ctx, env("127.0.0.9", "x.test", from), msg(from))
		if r.Reject != nil || r.Quarantine || !strings.Contains(r.AuthResults, want) {
			t.Fatalf("%s: reject %v quarantine %v\n%s", from, r.Reject, r.Quarantine, r.AuthResults)
		}
	}

	// Score mode for DMARC: the same forgery only weighs.
	c2 := newChecker(srv, Options{DMARC: ModeScore})
	r, _ = c2.Check(ctx, env("127.0.0.9", "x.test", "a@good.test"), msg("a@good.test"))
	if r.Reject != nil || symbols(r)["DMARC_FAIL"] != scoreDMARCFail {
		t.Fatalf("dmarc=score: reject %v symbols %v", r.Reject, r.Symbols)
	}
	// DMARC alone still evaluates SPF and DKIM but shows only its own
	// result.
	if strings.Contains(r.AuthResults, "spf=") || strings.Contains(r.AuthResults, "dkim=") || !strings.Contains(r.AuthResults, "dmarc=fail") {
		t.Fatalf("dmarc only:\n%s", r.AuthResults)
	}
}

func TestDKIMAlignedAndLimit(t *testing.T) {
	srv := zone(t)
	keys := t.TempDir()
	for _, sel := range []string{"s1", "s2"} {
		if _, err := dkim.Keygen(keys, "good.test", sel, "ed25519"); err != nil {
			t.Fatal(err)
		}
	}
	signer, err := dkim.LoadSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range signer.Keys() {
		srv.Set(k.TXTName(), dnstest.Records{TXT: []string{k.TXTValue()}})
	}
	signed, err := signer.Sign("", msg("a@good.test"))
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(srv, all(Options{}))
	// From a server SPF does not allow: DKIM (strictly aligned) passes
	// DMARC.
	r, err := c.Check(context.Background(), env("127.0.0.9", "x.test", "a@good.test"), signed)
	if err != nil {
		t.Fatal(err)
	}
	s := symbols(r)
	if r.Reject != nil || s["DKIM_ALIGNED"] != scoreDKIMAligned || s["SPF_FAIL"] != scoreSPFFail {
		t.Fatalf("reject %v symbols %v\n%s", r.Reject, r.Symbols, r.AuthResults)
	}
	if n := strings.Count(r.AuthResults, "dkim=pass header.d=good.test"); n != 2 {
		t.Fatalf("want 2 passing signatures, got %d:\n%s", n, r.AuthResults)
	}
	// MaxSignatures bounds the verifications (and key lookups).
	one := newChecker(srv, all(Options{MaxSignatures: 1}))
	r, _ = one.Check(context.Background(), env("127.0.0.2", "mail.good.test", "a@good.test"), signed)
	if n := strings.Count(r.AuthResults, "dkim="); n != 1 {
		t.Fatalf("MaxSignatures 1 verified %d:\n%s", n, r.AuthResults)
	}
}

// TestUnreachableResolverIsBounded: a DNS server that never answers costs
// at most the checks' deadline, and every check reports temperror.
func TestUnreachableResolverIsBounded(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := New(Options{AuthservID: "mx.test", SPF: ModeReject, DKIM: ModeScore, DMARC: ModeEnforce, IPRev: ModeScore,
		DNSBL: []string{"bl.test"}, Resolver: dns.New([]string{pc.LocalAddr().String()}, 10*time.Second), Timeout: 300 * time.Millisecond})
	start := time.Now()
	r, err := c.Check(context.Background(), env("127.0.0.9", "x.test", "a@good.test"), msg("a@good.test"))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("checks took %v with a 300ms deadline", d)
	}
	for _, w := range []string{"iprev=temperror", "spf=temperror", "dmarc=temperror", "x-dnsbl=temperror"} {
		if !strings.Contains(r.AuthResults, w) {
			t.Errorf("lacks %s:\n%s", w, r.AuthResults)
		}
	}
	if r.Reject != nil || r.Quarantine {
		t.Fatalf("a temporary failure refused or quarantined: %v", r.Reject)
	}
	// The server shutting down is an error, not a result.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Check(ctx, env("127.0.0.9", "x.test", "a@good.test"), msg("a@good.test")); err == nil {
		t.Fatal("cancelled context: no error")
	}
}

func TestIPRevIPv6(t *testing.T) {
	c := newChecker(zone(t), Options{IPRev: ModeStrict})
	r, err := c.Check(context.Background(), env("::1", "v6.good.test", "a@good.test"), msg("a@good.test"))
	if err != nil || r.Reject != nil || !strings.Contains(r.AuthResults, `iprev=pass policy.iprev="::1" (v6.good.test)`) {
		t.Fatalf("IPv6 iprev: %v %v\n%s", err, r.Reject, r.AuthResults)
	}
}

func TestAllOff(t *testing.T) {
	c := newChecker(zone(t), Options{})
	r, err := c.Check(context.Background(), env("127.0.0.9", "x.test", "a@good.test"), msg("a@good.test"))
	if err != nil || r.AuthResults != "" || len(r.Symbols) != 0 || r.Reject != nil {
		t.Fatalf("all off: %+v %v", r, err)
	}
}

func TestOrgDomainAndReverseName(t *testing.T) {
	for in, want := range map[string]string{
		"mail.example.com": "example.com", "a.b.example.co.uk": "example.co.uk", "Example.COM.": "example.com",
		"localhost": "localhost", "com": "com", "x.sender.test": "sender.test",
	} {
		if got := orgDomain(in); got != want {
			t.Errorf("orgDomain(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"192.0.2.1":   "1.2.0.192",
		"2001:db8::1": "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2",
	} {
		if got := reverseName(netip.MustParseAddr(in)); got != want {
			t.Errorf("reverseName(%s) = %s, want %s", in, got, want)
		}
	}
}

// BenchmarkCheck measures the checks of one message against the loopback
// DNS server: SPF for MAIL FROM and HELO, DKIM (unsigned), DMARC, iprev,
// one DNSBL zone.
func BenchmarkCheck(b *testing.B) {
	srv := dnstest.Start(b, dnstest.Zone{
		"127.0.0.2":        {PTR: []string{"mail.good.test"}},
		"mail.good.test":   {A: []string{"127.0.0.2"}},
		"good.test":        {TXT: []string{"v=spf1 ip4:127.0.0.2 -all"}},
		"_dmarc.good.test": {TXT: []string{"v=DMARC1; p=reject"}},
	})
	c := New(all(Options{AuthservID: "mx.test", DNSBL: []string{"bl.test"}, Resolver: dns.New([]string{srv.Addr()}, time.Second)}))
	e, m := env("127.0.0.2", "mail.good.test", "a@good.test"), msg("a@good.test")
	for b.Loop() {
		if r, err := c.Check(context.Background(), e, m); err != nil || !strings.Contains(r.AuthResults, "dmarc=pass") {
			b.Fatal(err, r.AuthResults)
		}
	}
	b.ReportMetric(float64(srv.Queries())/float64(b.N), "queries/op")
}

func TestReasonAndDomainForms(t *testing.T) {
	err := &net.DNSError{Err: "no such host", Name: "sel._domainkey.a.test", Server: "127.0.0.1:5353"}
	if got := reasonText(err); got != "lookup sel._domainkey.a.test: no such host" {
		t.Errorf("reasonText = %q", got)
	}
	if got := normDomain("Пример.РФ."); got != "xn--e1afmkfd.xn--p1ai" {
		t.Errorf("normDomain = %q", got)
	}
	if got := parseHeader([]byte("From: =?utf-8?q?x?= <ivan@пример.рф>\r\n\r\n")).fromDomains; len(got) != 1 || got[0] != "xn--e1afmkfd.xn--p1ai" {
		t.Errorf("From domains = %q", got)
	}
}
