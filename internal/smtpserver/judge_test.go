package smtpserver

import (
	"bufio"
	"encoding/base64"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/checks"
	"pochta/internal/dkim"
	"pochta/internal/dns"
	"pochta/internal/dnstest"
)

// judgeZone is the DNS the checks see in these tests. The client's source
// address (any of 127.0.0.0/8) decides who it is:
//
//	127.0.0.2  mail.sender.test  (PTR and A agree: iprev pass)
//	127.0.0.3  mail.spam.test    (PTR and A agree: iprev pass, another domain)
//	127.0.0.4  PTR liar.test, whose A is elsewhere (iprev fail)
//	127.0.0.5  no PTR (iprev fail)
//	127.0.0.6  mail.listed.test, listed in bl.test
//
// sender.test allows 127.0.0.2 by SPF and publishes DMARC p=reject;
// quar.test p=quarantine with sp=reject; pct0.test p=reject pct=0;
// strictspf.test "-all" without DMARC; soft.test "~all"; none.test has
// no SPF; temp.test's DNS fails.
func judgeZone(t *testing.T) *dnstest.Server {
	spf2 := "v=spf1 ip4:127.0.0.2 -all"
	return dnstest.Start(t, dnstest.Zone{
		"127.0.0.2":          {PTR: []string{"mail.sender.test"}},
		"mail.sender.test":   {A: []string{"127.0.0.2"}, TXT: []string{"v=spf1 a -all"}},
		"127.0.0.3":          {PTR: []string{"mail.spam.test"}},
		"mail.spam.test":     {A: []string{"127.0.0.3"}},
		"127.0.0.4":          {PTR: []string{"liar.test"}},
		"liar.test":          {A: []string{"192.0.2.1"}},
		"127.0.0.6":          {PTR: []string{"mail.listed.test"}},
		"mail.listed.test":   {A: []string{"127.0.0.6"}},
		"6.0.0.127.bl.test":  {A: []string{"127.0.0.2"}},
		"127.0.0.1":          {PTR: []string{"localhost.test"}},
		"localhost.test":     {A: []string{"127.0.0.1"}},
		"sender.test":        {TXT: []string{spf2}},
		"_dmarc.sender.test": {TXT: []string{"v=DMARC1; p=reject"}},
		"spam.test":          {TXT: []string{"v=spf1 ip4:127.0.0.3 -all"}},
		"quar.test":          {TXT: []string{spf2}},
		"_dmarc.quar.test":   {TXT: []string{"v=DMARC1; p=quarantine; sp=reject"}},
		"pct0.test":          {TXT: []string{spf2}},
		"_dmarc.pct0.test":   {TXT: []string{"v=DMARC1; p=reject; pct=0"}},
		"strictspf.test":     {TXT: []string{spf2}},
		"soft.test":          {TXT: []string{"v=spf1 ip4:127.0.0.2 ~all"}},
		"none.test":          {MX: []dnstest.MX{{Host: "mx.none.test", Pref: 10}}},
		"temp.test":          {Fail: true},
		"plain.test":         {},
	})
}

// judgeServer starts an inbound server whose checks use zone, with the
// given modes (empty ones: score, DMARC enforce).
func judgeServer(t *testing.T, f *fixture, zone *dnstest.Server, o checks.Options) string {
	t.Helper()
	def := func(m *checks.Mode, d checks.Mode) {
		if *m == "" {
			*m = d
		}
	}
	def(&o.SPF, checks.ModeScore)
	def(&o.DKIM, checks.ModeScore)
	def(&o.DMARC, checks.ModeEnforce)
	def(&o.IPRev, checks.ModeScore)
	o.AuthservID = "mx.test"
	o.Resolver = dns.New([]string{zone.Addr()}, 2*time.Second)
	opts := f.options(ModeInbound)
	opts.Checks = checks.New(o)
	return startServer(t, opts)
}

// sendFrom runs one transaction from source address src with HELO helo
// and returns the final reply line.
func sendFrom(t *testing.T, addr, src, helo, from, rcpt, msg string) string {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("220 ")
	c.cmd("EHLO "+helo, "250 ")
	c.cmd("MAIL FROM:<"+from+">", "250 ")
	c.cmd("RCPT TO:<"+rcpt+">", "250 ")
	c.cmd("DATA", "354 ")
	c.send(msg + ".\r\n")
	lines := c.readReply()
	c.cmd("QUIT", "221 ")
	return lines[len(lines)-1]
}

// message builds a small message with a unique subject.
func message(from, subject string) string {
	return "From: <" + from + ">\r\nTo: <alice@example.com>\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@test>\r\n\r\nHello " + subject + ".\r\n"
}

// delivered returns the header of the message in alice's INBOX whose
// subject is subject, or "" when there is none.
func (f *fixture) delivered(subject string) string {
	f.t.Helper()
	h, _ := f.deliveredTo(subject)
	return h
}

// deliveredTo is delivered, also telling the folder (INBOX or Junk, where
// the default Sieve rule files X-Spam: Yes).
func (f *fixture) deliveredTo(subject string) (header, folder string) {
	f.t.Helper()
	for _, name := range []string{"INBOX", "Junk"} {
		for _, m := range f.folder("alice@example.com", name) {
			if strings.Contains(m, "\r\nSubject: "+subject+"\r\n") {
				h, _, _ := strings.Cut(m, "\r\n\r\n")
				return h + "\r\n", name
			}
		}
	}
	return "", ""
}

// unfold joins folded header lines, so tests can look for one result.
func unfold(h string) string { return strings.NewReplacer("\r\n\t", " ", "\r\n ", " ").Replace(h) }

// authResults returns the unfolded Authentication-Results fields of a header.
func authResults(h string) []string {
	var out []string
	for _, line := range strings.Split(unfold(h), "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "authentication-results:") {
			out = append(out, line)
		}
	}
	return out
}

type judgeCase struct {
	name, src, helo, mailFrom, from string
	sign                            bool   // DKIM-sign with sender.test's or plain.test's key
	alter                           bool   // change the body after signing
	want                            string // reply prefix
	ar                              []string
	notAR                           []string
	spam                            bool // X-Spam: Yes expected
}

func TestChecksOnInboundSocket(t *testing.T) {
	f := newFixture(t, auth.Options{})
	zone := judgeZone(t)
	keys := t.TempDir()
	for _, d := range []string{"sender.test", "plain.test"} {
		if _, err := dkim.Keygen(keys, d, "sel", "ed25519"); err != nil {
			t.Fatal(err)
		}
	}
	signer, err := dkim.LoadSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range signer.Keys() {
		zone.Set(k.TXTName(), dnstest.Records{TXT: []string{k.TXTValue()}})
	}
	addr := judgeServer(t, f, zone, checks.Options{DNSBL: []string{"bl.test"}})

	cases := []judgeCase{
		{name: "spf-pass", src: "127.0.0.2", helo: "mail.sender.test", mailFrom: "a@sender.test", from: "a@sender.test", want: "250 ",
			ar: []string{"spf=pass smtp.mailfrom=a@sender.test", "spf=pass smtp.helo=mail.sender.test", "dkim=none",
				"dmarc=pass (p=reject) header.from=sender.test", "iprev=pass policy.iprev=127.0.0.2 (mail.sender.test)",
				"x-dnsbl=pass dns.zone=bl.test"}},
		{name: "spf-fail", src: "127.0.0.3", helo: "mail.spam.test", mailFrom: "a@strictspf.test", from: "a@strictspf.test", want: "250 ",
			ar: []string{"spf=fail smtp.mailfrom=a@strictspf.test", "spf=none smtp.helo=mail.spam.test", "dmarc=none header.from=strictspf.test"}},
		{name: "spf-softfail", src: "127.0.0.3", helo: "mail.spam.test", mailFrom: "a@soft.test", from: "a@soft.test", want: "250 ",
			ar: []string{"spf=softfail smtp.mailfrom=a@soft.test"}},
		{name: "spf-none", src: "127.0.0.3", helo: "mail.spam.test", mailFrom: "a@none.test", from: "a@none.test", want: "250 ",
			ar: []string{"spf=none smtp.mailfrom=a@none.test"}},
		{name: "spf-temperror", src: "127.0.0.3", helo: "mail.spam.test", mailFrom: "a@temp.test", from: "b@none.test", want: "250 ",
			ar: []string{"spf=temperror", "smtp.mailfrom=a@temp.test"}},
		{name: "spf-null-sender-uses-helo", src: "127.0.0.2", helo: "mail.sender.test", mailFrom: "", from: "mailer-daemon@mail.sender.test", want: "250 ",
			ar: []string{"spf=pass smtp.helo=mail.sender.test", "dmarc=pass"}, notAR: []string{"smtp.mailfrom"}},
		// DKIM rescues DMARC when SPF fails: sender.test signs, the
		// message comes from a server SPF does not list.
		{name: "dkim-valid", src: "127.0.0.3", helo: "mail.spam.test", mailFrom: "a@sender.test", from: "a@sender.test", sign: true, want: "250 ",
			ar: []string{"dkim=pass header.d=sender.test header.s=sel header.b=", "spf=fail smtp.mailfrom=a@sender.test", "dmarc=pass (p=reject)"}},
		{name: "dkim-invalid", src: "127.0.0.3", helo: "mail.spam.test", mailFrom: "a@plain.test", from: "a@plain.test", sign: true, alter: true, want: "250 ",
			ar: []string{"dkim=fail reason=", "header.d=plain.test header.s=sel"}},
		{name: "dkim-invalid-dmarc-reject", src: "127.0.0.3", helo: "mail.spam.test", mailFrom: "a@sender.test", from: "a@sender.test", sign: true, alter: true, want: "550 5.7.1 "},
		// The seeds' case: spam's server forging sender.test.
		{name: "dmarc-reject-unaligned", src: "127.0.0.3", helo: "mail.spam.test", mailFrom: "x@spam.test", from: "boss@sender.test", want: "550 5.7.1 "},
		{name: "dmarc-reject-relaxed-aligned", src: "127.0.0.2", helo: "mail.sender.test", mailFrom: "bounce@mail.sender.test", from: "boss@sender.test", want: "250 ",
			ar: []string{"spf=pass smtp.mailfrom=bounce@mail.sender.test", "dmarc=pass (p=reject) header.from=sender.test"}},
		{name: "dmarc-quarantine-unaligned", src: "127.0.0.3", helo: "mail.spam.test", mailFrom: "x@spam.test", from: "boss@quar.test", want: "250 ", spam: true,
			ar: []string{"spf=pass smtp.mailfrom=x@spam.test", "dmarc=fail (p=quarantine) header.from=quar.test"}},
		{name: "dmarc-quarantine-aligned", src: "127.0.0.2", helo: "mail.sender.test", mailFrom: "boss@quar.test", from: "boss@quar.test", want: "250 ",
			ar: []string{"dmarc=pass (p=quarantine) header.from=quar.test"}},
		{name: "dmarc-subdomain-policy", src: "127.0.0.3", helo: "mail.spam.test", mailFrom: "x@spam.test", from: "boss@deep.quar.test", want: "550 5.7.1 "},
		{name: "dmarc-pct0-downgraded", src: "127.0.0.3", helo: "mail.spam.test", mailFrom: "x@spam.test", from: "boss@pct0.test", want: "250 ", spam: true,
			ar: []string{"dmarc=fail (p=reject, pct: applied quarantine) header.from=pct0.test"}},
		{name: "ptr-mismatch", src: "127.0.0.4", helo: "liar.test", mailFrom: "a@none.test", from: "a@none.test", want: "250 ",
			ar: []string{"iprev=fail reason=\"PTR name does not resolve to the address\" policy.iprev=127.0.0.4"}},
		{name: "ptr-missing", src: "127.0.0.5", helo: "nowhere.test", mailFrom: "a@none.test", from: "a@none.test", want: "250 ",
			ar: []string{"iprev=fail reason=\"no PTR record\" policy.iprev=127.0.0.5"}},
		{name: "dnsbl-hit", src: "127.0.0.6", helo: "mail.listed.test", mailFrom: "a@none.test", from: "a@none.test", want: "250 ",
			ar: []string{"x-dnsbl=fail dns.zone=bl.test policy.ip=127.0.0.2", "iprev=pass"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			msg := message(tc.from, tc.name)
			if tc.sign {
				b, err := signer.Sign("", []byte(msg))
				if err != nil {
					t.Fatal(err)
				}
				msg = string(b)
				if !strings.Contains(msg, "DKIM-Signature:") {
					t.Fatalf("not signed: %q", msg)
				}
				if tc.alter {
					msg = strings.Replace(msg, "Hello", "Hullo", 1)
				}
			}
			before := len(f.inbox("alice@example.com"))
			got := sendFrom(t, addr, tc.src, tc.helo, tc.mailFrom, "alice@example.com", msg)
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("reply %q, want %q", got, tc.want)
			}
			h, folder := f.deliveredTo(tc.name)
			if !strings.HasPrefix(tc.want, "2") {
				if h != "" || len(f.inbox("alice@example.com")) != before {
					t.Fatalf("refused message was stored: %q", h)
				}
				return
			}
			ars := authResults(h)
			if len(ars) != 1 || !strings.HasPrefix(ars[0], "Authentication-Results: mx.test;") {
				t.Fatalf("want one Authentication-Results by mx.test, got %q in\n%s", ars, h)
			}
			for _, w := range tc.ar {
				if !strings.Contains(ars[0], w) {
					t.Errorf("Authentication-Results lacks %q:\n%s", w, ars[0])
				}
			}
			for _, w := range tc.notAR {
				if strings.Contains(ars[0], w) {
					t.Errorf("Authentication-Results has %q:\n%s", w, ars[0])
				}
			}
			if spam := strings.Contains(h, "\r\nX-Spam: Yes\r\n"); spam != tc.spam {
				t.Errorf("X-Spam: Yes present = %v, want %v:\n%s", spam, tc.spam, h)
			}
			if want := map[bool]string{true: "Junk", false: "INBOX"}[tc.spam]; folder != want {
				t.Errorf("delivered into %s, want %s", folder, want)
			}
			if i := strings.Index(h, "\r\nAuthentication-Results: mx.test"); i < strings.Index(h, "\r\nReceived: ") || h[strings.LastIndex(h[:i], "\r\n")+2] != '\t' {
				t.Errorf("Authentication-Results must follow our Received:\n%s", h)
			}
		})
	}
}

// TestChecksRejectModes covers the "reject" and "strict" modes: a failed
// check refuses the message with its RFC 7372 code and stores nothing.
func TestChecksRejectModes(t *testing.T) {
	f := newFixture(t, auth.Options{})
	zone := judgeZone(t)
	rejecting := judgeServer(t, f, zone, checks.Options{SPF: checks.ModeReject, DKIM: checks.ModeReject, IPRev: checks.ModeReject, DMARC: checks.ModeOff})
	strict := judgeServer(t, f, zone, checks.Options{IPRev: checks.ModeStrict, DMARC: checks.ModeOff})

	cases := []struct {
		name, addr, src, helo, mailFrom, from, want string
	}{
		{"spf-reject", rejecting, "127.0.0.3", "mail.spam.test", "a@strictspf.test", "a@strictspf.test", "550 5.7.23 "},
		{"spf-softfail-accepted", rejecting, "127.0.0.3", "mail.spam.test", "a@soft.test", "a@soft.test", "250 "},
		{"spf-none-accepted", rejecting, "127.0.0.3", "mail.spam.test", "a@none.test", "a@none.test", "250 "},
		{"iprev-reject-missing", rejecting, "127.0.0.5", "nowhere.test", "a@none.test", "a@none.test", "550 5.7.25 "},
		{"iprev-reject-mismatch", rejecting, "127.0.0.4", "liar.test", "a@none.test", "a@none.test", "550 5.7.25 "},
		// The seeds' rule: spam's server sending as sender.test is
		// refused, sender.test's own server accepted, and spam's
		// server sending as itself too.
		{"strict-forged", strict, "127.0.0.3", "mail.spam.test", "a@sender.test", "a@sender.test", "550 5.7.25 "},
		{"strict-forged-from-header", strict, "127.0.0.3", "mail.spam.test", "x@spam.test", "boss@sender.test", "550 5.7.25 "},
		{"strict-own-server", strict, "127.0.0.2", "mail.sender.test", "a@sender.test", "a@sender.test", "250 "},
		{"strict-own-domain", strict, "127.0.0.3", "mail.spam.test", "x@spam.test", "x@spam.test", "250 "},
		{"strict-no-ptr", strict, "127.0.0.5", "nowhere.test", "a@none.test", "a@none.test", "550 5.7.25 "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			before := len(f.inbox("alice@example.com"))
			got := sendFrom(t, tc.addr, tc.src, tc.helo, tc.mailFrom, "alice@example.com", message(tc.from, tc.name))
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("reply %q, want %q", got, tc.want)
			}
			stored := len(f.inbox("alice@example.com")) - before
			if wantStored := map[bool]int{true: 1, false: 0}[tc.want == "250 "]; stored != wantStored {
				t.Fatalf("stored %d messages, want %d", stored, wantStored)
			}
		})
	}
}

// TestForeignAuthResultsStripped: a field claiming our authserv-id that
// arrives from outside is removed; other servers' fields are kept.
func TestForeignAuthResultsStripped(t *testing.T) {
	f := newFixture(t, auth.Options{})
	addr := judgeServer(t, f, judgeZone(t), checks.Options{})
	msg := "Authentication-Results: mx.test; spf=pass smtp.mailfrom=boss@sender.test;\r\n\tdmarc=pass header.from=sender.test\r\n" +
		"Authentication-Results: (forged) \"MX.TEST\"; dkim=pass header.d=sender.test\r\n" +
		"Authentication-Results: relay.other.example; dkim=pass header.d=other.example\r\n" +
		message("a@none.test", "stripped")
	if got := sendFrom(t, addr, "127.0.0.3", "mail.spam.test", "a@none.test", "alice@example.com", msg); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("reply %q", got)
	}
	h := f.delivered("stripped")
	ars := authResults(h)
	if len(ars) != 2 || !strings.Contains(ars[0], "spf=none smtp.mailfrom=a@none.test") || !strings.HasPrefix(ars[1], "Authentication-Results: relay.other.example;") {
		t.Fatalf("Authentication-Results after stripping = %q\n%s", ars, h)
	}
}

// TestTrustedAndSubmissionSkipChecks: trusted networks and submission
// are our own users: no checks, no Authentication-Results, and a message
// DMARC would refuse is accepted.
func TestTrustedAndSubmissionSkipChecks(t *testing.T) {
	f := newFixture(t, auth.Options{PlaintextOnLoopback: true})
	zone := judgeZone(t)
	opts := f.options(ModeInbound)
	opts.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.7/32")}
	opts.Checks = checks.New(checks.Options{AuthservID: "mx.test", SPF: checks.ModeReject, DMARC: checks.ModeEnforce,
		IPRev: checks.ModeStrict, Resolver: dns.New([]string{zone.Addr()}, 2*time.Second)})
	addr := startServer(t, opts)
	if got := sendFrom(t, addr, "127.0.0.7", "laptop", "boss@sender.test", "alice@example.com", message("boss@sender.test", "trusted")); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("trusted network: reply %q", got)
	}
	if h := f.delivered("trusted"); h == "" || strings.Contains(h, "Authentication-Results") {
		t.Fatalf("trusted network message checked or lost:\n%s", h)
	}
	// The same message from outside is refused.
	if got := sendFrom(t, addr, "127.0.0.3", "mail.spam.test", "boss@sender.test", "alice@example.com", message("boss@sender.test", "outside")); !strings.HasPrefix(got, "550 ") {
		t.Fatalf("outside: reply %q", got)
	}

	sub := f.options(ModeSubmission)
	sub.Checks = opts.Checks
	saddr := startServer(t, sub)
	c := dialGreeted(t, saddr)
	c.cmd("EHLO laptop", "250 ")
	c.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00alice@example.com\x00"+alicePass)), "235 ")
	c.cmd("MAIL FROM:<alice@example.com>", "250 ")
	c.cmd("RCPT TO:<alice@example.com>", "250 ")
	c.cmd("DATA", "354 ")
	c.send("Authentication-Results: mx.test; dkim=pass\r\n" + message("alice@example.com", "submitted") + ".\r\n")
	c.expect("250 ")
	c.cmd("QUIT", "221 ")
	h := f.delivered("submitted")
	if ars := authResults(h); len(ars) != 1 || ars[0] != "Authentication-Results: mx.test; dkim=pass" {
		t.Fatalf("submission: Authentication-Results = %q (the user's own header is left alone, none added)\n%s", ars, h)
	}
}
