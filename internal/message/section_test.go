package message

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func mustRead(t testing.TB, name string) *Message {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(raw)
}

// TestSectionNumbering checks the part numbering of RFC 3501 §6.4.5 /
// RFC 9051 §6.4.5 on a message laid out exactly like the RFC's example.
func TestSectionNumbering(t *testing.T) {
	m := mustRead(t, "nested-rfc822.eml")
	types := []struct {
		path []int
		mt   string
	}{
		{[]int{1}, "text/plain"},
		{[]int{2}, "application/octet-stream"},
		{[]int{3}, "message/rfc822"},
		{[]int{3, 1}, "text/plain"},
		{[]int{3, 2}, "application/octet-stream"},
		{[]int{4}, "multipart/mixed"},
		{[]int{4, 1}, "image/gif"},
		{[]int{4, 2}, "message/rfc822"},
		{[]int{4, 2, 1}, "text/plain"},
		{[]int{4, 2, 2}, "multipart/alternative"},
		{[]int{4, 2, 2, 1}, "text/plain"},
		{[]int{4, 2, 2, 2}, "text/richtext"},
	}
	for _, tc := range types {
		p := m.Lookup(tc.path)
		if p == nil {
			t.Fatalf("part %v missing", tc.path)
		}
		if got := p.Type + "/" + p.Subtype; got != tc.mt {
			t.Errorf("part %v: type %s, want %s", tc.path, got, tc.mt)
		}
	}
	for _, missing := range [][]int{{0}, {5}, {1, 1}, {3, 3}, {4, 2, 3}, {4, 2, 2, 3}, {4, 1, 1}, {-1}} {
		if _, ok := m.Section(Section{Part: missing}); ok {
			t.Errorf("part %v should not exist", missing)
		}
	}

	sec := func(spec string, fields []string, path ...int) string {
		t.Helper()
		b, ok := m.Section(Section{Part: path, Specifier: spec, Fields: fields})
		if !ok {
			t.Fatalf("section %v %s missing", path, spec)
		}
		return string(b)
	}
	checks := []struct{ got, want string }{
		{sec("", nil, 1), "part 1 text"},
		{sec("MIME", nil, 1), "Content-Type: TEXT/PLAIN; charset=us-ascii\r\n\r\n"},
		{sec("", nil, 2), "AAECAwQF"},
		{sec("HEADER.FIELDS", []string{"subject", "FROM"}, 3), "From: Inner One <inner1@example.org>\r\nSubject: inner three\r\n\r\n"},
		{sec("", nil, 3, 1), "part 3.1 text"},
		{sec("MIME", nil, 4, 1), "Content-Type: IMAGE/GIF\r\nContent-Transfer-Encoding: base64\r\n\r\n"},
		{sec("TEXT", nil, 4, 2)[:7], "--in42\r"},
		{sec("", nil, 4, 2, 2, 2), "<bold>part 4.2.2.2</bold>"},
		{sec("header.fields.not", []string{"Content-Type", "Message-ID", "From", "To"}, 4, 2), "Subject: inner four two\r\n\r\n"},
		{sec("HEADER.FIELDS", []string{"X-None"}), "\r\n"},
	}
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("check %d: got %q, want %q", i, c.got, c.want)
		}
	}
	// The whole-message sections.
	whole, _ := m.Section(Section{})
	hdr, _ := m.Section(Section{Specifier: "HEADER"})
	text, _ := m.Section(Section{Specifier: "TEXT"})
	if !bytes.Equal(whole, m.Raw()) || string(hdr)+string(text) != string(whole) {
		t.Error("HEADER + TEXT must equal the whole message")
	}
	if !strings.HasSuffix(string(hdr), "boundary=\"outer\"\r\n\r\n") {
		t.Errorf("HEADER must end with the blank line: %q", hdr[len(hdr)-30:])
	}
	// message/rfc822: BODY[3] is the whole embedded message = 3.HEADER + 3.TEXT.
	if sec("", nil, 3) != sec("HEADER", nil, 3)+sec("TEXT", nil, 3) {
		t.Error("BODY[3] != BODY[3.HEADER] + BODY[3.TEXT]")
	}
	// HEADER/TEXT only exist for message/rfc822 parts; MIME not for the message.
	for _, s := range []Section{{Part: []int{1}, Specifier: "HEADER"}, {Part: []int{4}, Specifier: "TEXT"}, {Specifier: "MIME"}, {Specifier: "BOGUS"}} {
		if _, ok := m.Section(s); ok {
			t.Errorf("section %+v should not exist", s)
		}
	}
}

// TestSectionSinglePart checks that in a non-multipart message part 1 is
// the body and 1.MIME the message header.
func TestSectionSinglePart(t *testing.T) {
	m := mustRead(t, "plain.eml")
	b1, ok := m.Section(Section{Part: []int{1}})
	text, _ := m.Section(Section{Specifier: "TEXT"})
	if !ok || !bytes.Equal(b1, text) || !strings.HasPrefix(string(b1), "Hello Joe") {
		t.Errorf("BODY[1] = %q", b1)
	}
	if _, ok := m.Section(Section{Part: []int{2}}); ok {
		t.Error("part 2 of a single-part message must not exist")
	}
	mime, _ := m.Section(Section{Part: []int{1}, Specifier: "MIME"})
	hdr, _ := m.Section(Section{Specifier: "HEADER"})
	if !bytes.Equal(mime, hdr) {
		t.Error("BODY[1.MIME] of a single-part message is its header")
	}
}

func TestSectionFoldedHeaderFields(t *testing.T) {
	m := Parse([]byte("Subject: a\r\n folded\r\nX-A: 1\r\nx-a: 2\r\nNo-Newline: z"))
	b, _ := m.Section(Section{Specifier: "HEADER.FIELDS", Fields: []string{"X-A", "no-newline", "SUBJECT"}})
	want := "Subject: a\r\n folded\r\nX-A: 1\r\nx-a: 2\r\nNo-Newline: z\r\n\r\n"
	if string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
	if got := m.HeaderValues("subject"); len(got) != 1 || got[0] != "a folded" {
		t.Errorf("HeaderValues = %q", got)
	}
}

func TestBinary(t *testing.T) {
	m := mustRead(t, "mixed-attachment.eml")
	pdf, ok, err := m.Binary([]int{2})
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	want := bytes.Repeat(func() []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}(), 3)
	if !bytes.Equal(pdf, want) {
		t.Errorf("base64 part decoded to %d bytes, want %d", len(pdf), len(want))
	}
	if n, ok, err := m.BinarySize([]int{2}); n != 768 || !ok || err != nil {
		t.Errorf("BinarySize = %d %v %v", n, ok, err)
	}
	if _, ok, _ := m.Binary([]int{3}); ok {
		t.Error("part 3 does not exist")
	}

	alt := mustRead(t, "alternative.eml")
	txt, _, err := alt.Binary([]int{1})
	if err != nil || string(txt) != "Shall we have lunch at the café tomorrow? It is a very long line that has been soft-wrapped by quoted-printable." {
		t.Errorf("QP decode = %q %v", txt, err)
	}
	whole, ok, _ := alt.Binary(nil)
	if !ok || !bytes.Equal(whole, alt.Raw()) {
		t.Error("BINARY[] is the whole message")
	}

	nested := mustRead(t, "nested-rfc822.eml")
	if _, ok, err := nested.Binary([]int{3, 2}); !ok || !errors.Is(err, ErrUnknownCTE) {
		t.Errorf("x-uuencode: ok=%v err=%v, want ErrUnknownCTE", ok, err)
	}
	if _, _, err := nested.BinarySize([]int{3, 2}); !errors.Is(err, ErrUnknownCTE) {
		t.Errorf("BinarySize x-uuencode: %v", err)
	}
	gif, _, _ := nested.Binary([]int{4, 1})
	if !bytes.HasPrefix(gif, []byte("GIF89a")) {
		t.Errorf("gif = %q", gif)
	}
	// A message/rfc822 part is returned as stored.
	b3, _, err := nested.Binary([]int{3})
	s3, _ := nested.Section(Section{Part: []int{3}})
	if err != nil || !bytes.Equal(b3, s3) {
		t.Error("BINARY[3] of message/rfc822 must be the stored octets")
	}
}

func TestDecoders(t *testing.T) {
	b64 := []struct{ in, out string }{
		{"aGVsbG8=", "hello"},
		{"aGVs\r\nbG8gd29y\r\nbGQ=\r\n", "hello world"},
		{"aGVsbG8", "hello"},           // missing padding
		{"a*GV!sbG8=garbage", "hello"}, // junk skipped, stops at padding
		{"", ""},
	}
	for _, c := range b64 {
		if got := string(decodeBase64([]byte(c.in))); got != c.out {
			t.Errorf("base64 %q = %q, want %q", c.in, got, c.out)
		}
	}
	qp := []struct{ in, out string }{
		{"caf=C3=A9", "café"},
		{"soft=\r\nbreak", "softbreak"},
		{"trailing   \r\nspace\t\r\n", "trailing\r\nspace\r\n"},
		{"bad =ZZ and =4", "bad =ZZ and =4"},
		{"lf soft=\nbreak\n", "lf softbreak\n"},
		{"=3d=3D", "=="},
		{"end=", "end"},
	}
	for _, c := range qp {
		if got := string(decodeQP([]byte(c.in))); got != c.out {
			t.Errorf("qp %q = %q, want %q", c.in, got, c.out)
		}
	}
}
