package checks

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenResults is a set of results covering every method, quoting
// (IPv6 addresses, base64 with '/', odd local parts), comments that need
// escaping and folding of long lines.
var goldenResults = []authResult{
	{Method: "iprev", Result: "pass", Props: []prop{{"policy", "iprev", "192.0.2.7"}}, PropComment: "mail.example.com"},
	{Method: "iprev", Result: "fail", Reason: "no PTR record", Props: []prop{{"policy", "iprev", "2001:db8::25"}}},
	{Method: "spf", Result: "pass", Props: []prop{{"smtp", "mailfrom", "bounce+xyz=example.org@lists.example.com"}}},
	{Method: "spf", Result: "temperror", Reason: `lookup "example.net": timeout`, Props: []prop{{"smtp", "helo", "mail.example.net"}}},
	{Method: "spf", Result: "fail", Props: []prop{{"smtp", "mailfrom", `"odd local"@example.com`}}},
	{Method: "dkim", Result: "pass", Props: []prop{{"header", "d", "example.com"}, {"header", "s", "sel2024"}, {"header", "b", "ab/+c=Z9"}}},
	{Method: "dkim", Result: "fail", Reason: "signature did not verify (body hash mismatch), the message was altered on its way", Props: []prop{{"header", "d", "a-very-long-subdomain-name.of-an-organisation.example.co.uk"}, {"header", "s", "s1"}}},
	{Method: "dmarc", Result: "fail", Comment: "p=reject", Props: []prop{{"header", "from", "example.com"}}},
	{Method: "dmarc", Result: "fail", Comment: "p=quarantine, (weird) \\ comment", Props: []prop{{"header", "from", "example.org"}}},
	{Method: "x-dnsbl", Result: "fail", Props: []prop{{"dns", "zone", "zen.spamhaus.org"}, {"policy", "ip", "127.0.0.2"}}},
}

func TestAuthResultsGolden(t *testing.T) {
	got := FormatAuthResults("mx.example.net", goldenResults) + FormatAuthResults("mx.example.net", nil) +
		FormatAuthResults("odd id;with spaces", goldenResults[:1])
	path := filepath.Join("testdata", "authres.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("Authentication-Results differ from %s (run with -update after checking):\n%s", path, got)
	}
	checkFieldShape(t, got)
}

// checkFieldShape checks that s is a sequence of header fields: CRLF line
// endings only, continuation lines start with a tab, no line over 998
// octets (RFC 5322 §2.1.1, §2.2.3).
func checkFieldShape(t *testing.T, s string) {
	t.Helper()
	if !strings.HasSuffix(s, "\r\n") {
		t.Fatalf("field does not end in CRLF: %q", s)
	}
	for i, line := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("bare CR or LF in line %d: %q", i, line)
		}
		if len(line) > 998 {
			t.Fatalf("line %d is %d octets", i, len(line))
		}
		if i > 0 && !strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, "Authentication-Results: ") {
			t.Fatalf("line %d neither starts a field nor continues one: %q", i, line)
		}
	}
}

func TestStripAuthResults(t *testing.T) {
	const body = "\r\nAuthentication-Results: mx.test; in the body, kept\r\n"
	cases := []struct{ name, in, want string }{
		{"ours removed, others kept",
			"Received: x\r\nAuthentication-Results: mx.test; spf=pass\r\nAuthentication-Results: other.test; spf=fail\r\nSubject: s\r\n",
			"Received: x\r\nAuthentication-Results: other.test; spf=fail\r\nSubject: s\r\n"},
		{"folded field removed whole",
			"Authentication-Results: mx.test;\r\n\tdkim=pass header.d=a.test;\r\n dmarc=pass\r\nSubject: s\r\n",
			"Subject: s\r\n"},
		{"case, comment, quotes, trailing dot, spacing",
			"authentication-results : (c (nested)) \"MX.Test.\" ; none\r\nAUTHENTICATION-RESULTS:MX.TEST;none\r\nSubject: s\r\n",
			"Subject: s\r\n"},
		{"a longer id is another server",
			"Authentication-Results: mx.test.evil; spf=pass\r\nAuthentication-Results: evil-mx.test; spf=pass\r\n",
			"Authentication-Results: mx.test.evil; spf=pass\r\nAuthentication-Results: evil-mx.test; spf=pass\r\n"},
		{"version after the id", "Authentication-Results: mx.test 1; spf=pass\r\n", ""},
	}
	for _, tc := range cases {
		got := StripAuthResults([]byte(tc.in+body), "mx.test")
		if string(got) != tc.want+body {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want+body)
		}
	}
	in := []byte("Subject: nothing to strip\r\n" + body)
	if got := StripAuthResults(in, "mx.test"); &got[0] != &in[0] || !bytes.Equal(got, in) {
		t.Errorf("unchanged content must be returned as is")
	}
}
