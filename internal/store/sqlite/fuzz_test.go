package sqlite

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"pochta/internal/store"
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
		idx := buildIndex(strings.NewReader(string(data)))
		if len(idx.body) > maxBodyBytes*2 || len(idx.headers) > maxHeaders {
			t.Fatalf("limits exceeded: body %d, headers %d", len(idx.body), len(idx.headers))
		}
		for _, s := range []string{idx.subject, idx.from, idx.to, idx.cc, idx.bcc, idx.headerText, idx.body} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in index: %q", s)
			}
		}
	})
}

// FuzzNormName checks mailbox name validation: accepted names are
// normalised idempotently and obey the documented rules.
func FuzzNormName(f *testing.F) {
	for _, s := range []string{"INBOX", "inbox/a", "a//b", "/a", "a/", ".", "a/../b", "x\x00y", "Ünï/cödé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := normName(name)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidName) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(n) != len(name) || len(n) > maxNameLen || n == "" {
			t.Fatalf("normName(%q) = %q", name, n)
		}
		if strings.HasPrefix(n, "/") || strings.HasSuffix(n, "/") || strings.Contains(n, "//") {
			t.Fatalf("accepted %q", name)
		}
		if n2, err := normName(n); err != nil || n2 != n {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", name, n, n2, err)
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
		if got := stripHTML(in); got != want {
			t.Errorf("stripHTML(%q) = %q, want %q", in, got, want)
		}
	}
}
