package checks

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzAuthResults: whatever the values (they come from the client: HELO,
// MAIL FROM, DNS answers), the writer produces one well-formed, folded
// header field whose authserv-id reads back, so StripAuthResults finds it.
func FuzzAuthResults(f *testing.F) {
	f.Add("mx.example.net", "spf", "pass", "", "a@example.com", "")
	f.Add("odd id", "dkim", "fail", `quote " and \ back`, "ab/+c=Z9", "p=(reject)")
	f.Add("mx", "iprev", "pass", "", "2001:db8::1", "name\r\nInjected: yes")
	f.Add(strings.Repeat("x", 300), "dmarc", "none", strings.Repeat("r ", 400), strings.Repeat("v", 1000), strings.Repeat("(", 50))
	f.Fuzz(func(t *testing.T, id, method, result, reason, value, comment string) {
		ar := authResult{Method: method, Result: result, Reason: reason, Comment: comment,
			Props: []prop{{"smtp", "mailfrom", value}, {"header", "b", value}}, PropComment: comment}
		out := FormatAuthResults(id, []authResult{ar, ar})
		checkFieldShape(t, out)
		if id == "" || clean(id) != id {
			return
		}
		msg := out + "Subject: x\r\n\r\nbody\r\n"
		if got := string(StripAuthResults([]byte(msg), id)); got != "Subject: x\r\n\r\nbody\r\n" {
			t.Fatalf("authserv-id %q not found again in %q", id, out)
		}
	})
}

// FuzzStripAuthResults: stripping only ever removes whole header fields,
// leaves the body alone and is idempotent.
func FuzzStripAuthResults(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.test; spf=pass\r\nSubject: s\r\n\r\nbody\r\n"), "mx.test")
	f.Add([]byte("Authentication-Results: (c) \"mx.test\"\r\n\t; none\r\n\r\n"), "MX.TEST")
	f.Add([]byte("X: y\nAuthentication-Results: mx.test\n\nAuthentication-Results: mx.test\n"), "mx.test")
	f.Add([]byte("Authentication-Results: (unclosed \\"), "")
	f.Fuzz(func(t *testing.T, content []byte, id string) {
		once := StripAuthResults(content, id)
		if len(once) > len(content) {
			t.Fatalf("stripping grew the content")
		}
		if twice := StripAuthResults(once, id); !bytes.Equal(once, twice) {
			t.Fatalf("not idempotent: %q -> %q -> %q", content, once, twice)
		}
		fields := headerFields(content)
		end := 0
		if len(fields) > 0 {
			end = fields[len(fields)-1].end
		}
		if !bytes.HasSuffix(once, content[end:]) {
			t.Fatalf("the body changed: %q -> %q", content, once)
		}
	})
}
