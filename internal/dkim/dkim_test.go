package dkim_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	mdns "github.com/miekg/dns"

	"pochta/internal/dkim"
	"pochta/internal/dns"
	"pochta/internal/dnstest"
)

const message = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: Hello\r\n" +
	"Date: Sun, 22 Nov 2026 15:00:00 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"X-Unsigned: whatever\r\n" +
	"\r\n" +
	"Hi Bob,\r\n\r\nsee you.  \r\n\r\n\r\n"

// setup generates an Ed25519 and an RSA key for example.org, loads them
// and publishes them on a test DNS server.
func setup(t *testing.T) (*dkim.Signer, func(string) ([]string, error)) {
	t.Helper()
	dir := t.TempDir()
	var records []string
	for _, c := range []struct{ sel, algo string }{{"ed", "ed25519"}, {"rs", "rsa"}} {
		rec, err := dkim.Keygen(dir, "Example.org", c.sel, c.algo)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, rec)
		path := filepath.Join(dir, "example.org", c.sel+"."+c.algo+".key")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", path, fi.Mode())
		}
	}
	s, err := dkim.LoadSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := s.Keys()
	if len(keys) != 2 {
		t.Fatalf("%d keys", len(keys))
	}
	zone := dnstest.Zone{}
	for i, k := range keys {
		if k.Record() != records[i] {
			t.Fatalf("Keygen record %q, loaded key record %q", records[i], k.Record())
		}
		zone[k.TXTName()] = dnstest.Records{TXT: []string{k.TXTValue()}}
	}
	srv := dnstest.Start(t, zone)
	r := dns.New([]string{srv.Addr()}, 2*time.Second)
	return s, r.TXTFunc(context.Background())
}

func verify(t *testing.T, lookup func(string) ([]string, error), msg []byte) []*msgdkim.Verification {
	t.Helper()
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestSignVerify(t *testing.T) {
	s, lookup := setup(t)
	signed, err := s.Sign("example.org", []byte(message))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(signed, []byte(message)) || bytes.Count(signed, []byte("DKIM-Signature:")) != 2 {
		t.Fatalf("signed message:\n%s", signed)
	}
	vs := verify(t, lookup, signed)
	if len(vs) != 2 {
		t.Fatalf("%d verifications", len(vs))
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Fatalf("verification failed: %v", v.Err)
		}
		if v.Domain != "example.org" {
			t.Fatalf("d=%s", v.Domain)
		}
		want := "From:To:Subject:Date:Message-ID:From"
		if got := strings.Join(v.HeaderKeys, ":"); got != want {
			t.Fatalf("h=%s want %s", got, want)
		}
	}
	for _, algo := range []string{"a=ed25519-sha256", "a=rsa-sha256"} {
		if !bytes.Contains(signed, []byte(algo)) {
			t.Fatalf("no %s signature", algo)
		}
	}

	// Relaxed canonicalization survives whitespace changes in transit.
	relaxed := bytes.Replace(signed, []byte("Subject: Hello"), []byte("Subject:   Hello"), 1)
	for _, v := range verify(t, lookup, relaxed) {
		if v.Err != nil {
			t.Fatalf("relaxed: %v", v.Err)
		}
	}
	// Changing a signed header or the body breaks both signatures.
	for _, tamper := range [][2]string{{"Subject: Hello", "Subject: Hellp"}, {"see you.", "see you!"}} {
		bad := bytes.Replace(signed, []byte(tamper[0]), []byte(tamper[1]), 1)
		for _, v := range verify(t, lookup, bad) {
			if v.Err == nil {
				t.Fatalf("tampered %q verified", tamper[1])
			}
		}
	}
	// Adding a second From (oversigned) breaks them too.
	bad := bytes.Replace(signed, []byte("To: bob"), []byte("From: mallory@evil.test\r\nTo: bob"), 1)
	for _, v := range verify(t, lookup, bad) {
		if v.Err == nil {
			t.Fatal("added From verified")
		}
	}
}

func TestSignDomainSelection(t *testing.T) {
	s, lookup := setup(t)
	// "" means the From header's domain.
	signed, err := s.Sign("", []byte(message))
	if err != nil {
		t.Fatal(err)
	}
	if vs := verify(t, lookup, signed); len(vs) != 2 || vs[0].Err != nil || vs[1].Err != nil {
		t.Fatalf("From-domain signing failed: %v", vs)
	}
	// A subdomain is signed with its parent's keys (relaxed alignment).
	sub := strings.Replace(message, "alice@example.org", "alice@lists.example.org", 1)
	signed, err = s.Sign("lists.example.org", []byte(sub))
	if err != nil {
		t.Fatal(err)
	}
	if vs := verify(t, lookup, signed); len(vs) != 2 || vs[0].Err != nil || vs[0].Domain != "example.org" {
		t.Fatalf("subdomain: %v", vs)
	}
	// No key: unchanged.
	other := []byte(strings.Replace(message, "example.org", "other.test", -1))
	out, err := s.Sign("other.test", other)
	if err != nil || !bytes.Equal(out, other) {
		t.Fatalf("unsigned domain changed: %v\n%s", err, out)
	}
	// Bare LF input is signed in its CRLF form.
	lf := strings.ReplaceAll(message, "\r\n", "\n")
	signed, err = s.Sign("example.org", []byte(lf))
	if err != nil {
		t.Fatal(err)
	}
	if vs := verify(t, lookup, signed); len(vs) != 2 || vs[0].Err != nil || vs[1].Err != nil {
		t.Fatalf("LF message: %v", vs)
	}
}

func TestKeygenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := dkim.Keygen(dir, "example.org", "s1", "dsa"); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
	if _, err := dkim.Keygen(dir, "../etc", "s1", "ed25519"); err == nil {
		t.Fatal("path in domain accepted")
	}
	if _, err := dkim.Keygen(dir, "example.org", "a/b", "ed25519"); err == nil {
		t.Fatal("path in selector accepted")
	}
	if _, err := dkim.Keygen(dir, "example.org", "s1", "ed25519"); err != nil {
		t.Fatal(err)
	}
	if _, err := dkim.Keygen(dir, "example.org", "s1", "ed25519"); err == nil {
		t.Fatal("existing key overwritten")
	}
	// A file whose name disagrees with its key is refused on load.
	os.Rename(filepath.Join(dir, "example.org", "s1.ed25519.key"), filepath.Join(dir, "example.org", "s1.rsa.key"))
	if _, err := dkim.LoadSigner(dir); err == nil {
		t.Fatal("mismatched key loaded")
	}
	// A missing directory is no keys, not an error.
	s, err := dkim.LoadSigner(filepath.Join(dir, "none"))
	if err != nil || len(s.Keys()) != 0 {
		t.Fatalf("missing dir: %v", err)
	}
	out, err := s.Sign("example.org", []byte(message))
	if err != nil || string(out) != message {
		t.Fatal("signer without keys changed the message")
	}
}

// TestRecords: every record line parses as a DNS resource record, and the
// expected ones are there.
func TestRecords(t *testing.T) {
	dir := t.TempDir()
	rec, err := dkim.Keygen(dir, "example.org", "rs", "rsa")
	if err != nil {
		t.Fatal(err)
	}
	s, err := dkim.LoadSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := dkim.Records("example.org", "mail.example.org", "", []string{rec})
	types := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := mdns.NewRR(line)
		if err != nil || rr == nil {
			t.Fatalf("line %q: %v", line, err)
		}
		types[mdns.TypeToString[rr.Header().Rrtype]]++
		if txt, ok := rr.(*mdns.TXT); ok && strings.HasPrefix(rr.Header().Name, "rs._domainkey.") {
			if got := strings.Join(txt.Txt, ""); got != s.Keys()[0].TXTValue() {
				t.Fatalf("DKIM TXT %q", got)
			}
		}
	}
	if types["MX"] != 1 || types["TXT"] != 3 || types["CNAME"] != 2 {
		t.Fatalf("record types %v\n%s", types, out)
	}
	for _, want := range []string{
		"example.org. IN MX 10 mail.example.org.",
		`"v=spf1 mx -all"`,
		`_dmarc.example.org. IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org"`,
		"mta-sts",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in\n%s", want, out)
		}
	}
	if !strings.Contains(dkim.Records("example.org", "mail.example.org", "mx.example.org", nil), "IN MX 10 mx.example.org.") {
		t.Fatal("mxHost ignored")
	}
}

// TestSRVRecords: every RFC 6186/8314 service has a record that parses;
// offered ones name the host and port, others say "not offered".
func TestSRVRecords(t *testing.T) {
	out := dkim.SRVRecords("Example.org", "mail.example.org", dkim.SRVPorts{Submissions: 465, Submission: 587, IMAPS: 993})
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := mdns.NewRR(line)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if _, ok := rr.(*mdns.SRV); !ok {
			t.Fatalf("line %q is not SRV", line)
		}
		n++
	}
	if n != 6 {
		t.Fatalf("%d SRV records, want 6:\n%s", n, out)
	}
	for _, want := range []string{
		"_submissions._tcp.example.org. IN SRV 0 1 465 mail.example.org.",
		"_submission._tcp.example.org. IN SRV 10 1 587 mail.example.org.",
		"_imaps._tcp.example.org. IN SRV 0 1 993 mail.example.org.",
		"_imap._tcp.example.org. IN SRV 0 0 0 .",
		"_pop3s._tcp.example.org. IN SRV 0 0 0 .",
		"_pop3._tcp.example.org. IN SRV 0 0 0 .",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
