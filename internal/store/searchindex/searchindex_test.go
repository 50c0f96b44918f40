package searchindex

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzBuildIndex feeds arbitrary messages to the indexer and its thread
// keys: it must never panic, must keep within its limits and must produce
// valid UTF-8.
func FuzzBuildIndex(f *testing.F) {
	f.Add([]byte("Subject: hi\r\n\r\nbody\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p><script>y\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n"))
	f.Add([]byte("Subject: =?utf-8?B?w6k=?=\r\nContent-Transfer-Encoding: base64\r\n\r\nw6k=\r\n"))
	f.Add([]byte("\xff\xfe\x00"))
	f.Add([]byte("Message-ID: <a@b>\r\nReferences: <x@y> <z@w>\r\nIn-Reply-To: <z@w>\r\nSubject: Re: [list] Fwd: plan (fwd)\r\n\r\nx\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx := Build(strings.NewReader(string(data)))
		if len(idx.Body) > MaxBodyBytes*2 || len(idx.Headers) > MaxHeaders {
			t.Fatalf("limits exceeded: body %d, headers %d", len(idx.Body), len(idx.Headers))
		}
		k := idx.ThreadKeys()
		if len(k.Parents) > maxThreadParents {
			t.Fatalf("%d thread parents", len(k.Parents))
		}
		for _, s := range []string{idx.Subject, idx.From, idx.To, idx.Cc, idx.Bcc, idx.HeaderText, idx.Body, k.MessageID, k.Subject} {
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

// TestThreadKeys: References wins over In-Reply-To (RFC 5256 §2.2 step
// 1), the base subject loses reply and list prefixes (RFC 5256 §2.1), all
// lower case.
func TestThreadKeys(t *testing.T) {
	k := Build(strings.NewReader("Message-ID: <Own@Example>\r\nIn-Reply-To: <b@x>\r\nReferences: <a@x> <b@x>\r\nSubject: Re: [List] Fwd: The Plan\r\n\r\nx\r\n")).ThreadKeys()
	if k.MessageID != "own@example" || strings.Join(k.Parents, " ") != "a@x b@x" || k.Subject != "the plan" {
		t.Fatalf("ThreadKeys = %+v", k)
	}
	k = Build(strings.NewReader("In-Reply-To: <p@x> <q@x>\r\nSubject: hello\r\n\r\nx\r\n")).ThreadKeys()
	if k.MessageID != "" || strings.Join(k.Parents, " ") != "p@x" || k.Subject != "hello" {
		t.Fatalf("ThreadKeys = %+v", k)
	}
}
