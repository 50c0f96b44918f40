package searchindex

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzBuildIndex feeds arbitrary messages to the indexer: it must never
// panic, must keep within its limits and must produce valid UTF-8.
func FuzzBuildIndex(f *testing.F) {
	f.Add([]byte("Subject: hi\r\n\r\nbody\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p><script>y\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n"))
	f.Add([]byte("Subject: =?utf-8?B?w6k=?=\r\nContent-Transfer-Encoding: base64\r\n\r\nw6k=\r\n"))
	f.Add([]byte("\xff\xfe\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx := Build(strings.NewReader(string(data)))
		if len(idx.Body) > MaxBodyBytes*2 || len(idx.Headers) > MaxHeaders {
			t.Fatalf("limits exceeded: body %d, headers %d", len(idx.Body), len(idx.Headers))
		}
		for _, s := range []string{idx.Subject, idx.From, idx.To, idx.Cc, idx.Bcc, idx.HeaderText, idx.Body} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in index: %q", s)
			}
		}
	})
}

func TestStripHTML(t *testing.T) {
	cases := map[string]string{
		"<p>Hello &amp; bye</p>":            " Hello & bye ",
		"a<script>var x = '<b>';</script>b": "a b",
		"<STYLE>p{}</STYLE>text":            " text",
		"x<script>never closed":             "x",
		"İİİ<b>bold</b>":                    "İİİ bold ",
		"unterminated <tag":                 "unterminated ",
	}
	for in, want := range cases {
		if got := StripHTML(in); got != want {
			t.Errorf("StripHTML(%q) = %q, want %q", in, got, want)
		}
	}
}
