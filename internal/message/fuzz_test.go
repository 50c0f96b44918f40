package message

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// exercise runs everything the IMAP server may call on a parsed message and
// checks the structural invariants; it must never panic.
func exercise(t *testing.T, raw []byte) {
	m := Parse(raw)
	checkSyntax(t, "ENVELOPE", m.Envelope().IMAP())
	checkSyntax(t, "ENVELOPE utf8", m.Envelope().Format(true))
	checkSyntax(t, "BODY", m.BodyStructure(false))
	checkSyntax(t, "BODYSTRUCTURE", m.BodyStructure(true))
	checkSyntax(t, "BODYSTRUCTURE utf8", m.BodyStructureFormat(true, true))
	_ = m.HeaderValues("subject")
	_ = m.Date()
	_ = BaseSubject(m.Subject())
	_ = m.TextContains("needle")
	_ = m.HeaderContains("needle")
	_ = m.SortAddress("from")
	_ = m.SortDisplay("to")
	_ = m.MessageID()
	_ = m.References()
	_ = AddressSearchText(strings.Join(m.HeaderValues("to"), ", "))
	if n := Hops(raw); n < 0 || n > bytes.Count(raw, []byte("\n"))+1 {
		t.Fatalf("Hops = %d for %d lines", n, bytes.Count(raw, []byte("\n"))+1)
	}
	if rest := TrimTopFields(raw, "Received"); !bytes.HasSuffix(raw, rest) || Hops(rest) > Hops(raw) {
		t.Fatalf("TrimTopFields left %q", rest)
	}
	if enc := EncodeBinaryParts(raw); !bytes.Equal(enc, raw) {
		Parse(enc).walk(Parse(enc).root, 0, func(p *Part) bool {
			if p.Children == nil && p.Embedded == nil && p.Encoding == "binary" {
				t.Fatalf("binary leaf left after EncodeBinaryParts")
			}
			return true
		})
	}

	hdr, _ := m.Section(Section{Specifier: "HEADER"})
	text, _ := m.Section(Section{Specifier: "TEXT"})
	if !bytes.Equal(append(append([]byte{}, hdr...), text...), raw) {
		t.Fatalf("HEADER+TEXT != message")
	}
	var visit func(path []int, p *Part, depth int)
	visit = func(path []int, p *Part, depth int) {
		if depth > MaxDepth+2 {
			t.Fatalf("nesting deeper than the limit at %v", path)
		}
		if !(0 <= p.Start && p.Start <= p.BodyStart && p.BodyStart <= p.End && p.End <= len(raw)) {
			t.Fatalf("bad offsets %d %d %d (len %d) at %v", p.Start, p.BodyStart, p.End, len(raw), path)
		}
		if p.Type == "multipart" && len(p.Children) == 0 {
			t.Fatalf("multipart without parts at %v", path)
		}
		if got := m.Lookup(path); got != p {
			t.Fatalf("Lookup(%v) did not find the part", path)
		}
		for _, spec := range []string{"", "MIME", "HEADER", "TEXT", "HEADER.FIELDS", "HEADER.FIELDS.NOT"} {
			_, _ = m.Section(Section{Part: path, Specifier: spec, Fields: []string{"Content-Type", "subject"}})
		}
		_, _, _ = m.Binary(path)
		_, _, _ = m.BinarySize(path)
		for i, c := range p.children() {
			visit(append(append([]int{}, path...), i+1), c, depth+1)
		}
	}
	for i, c := range m.Root().topParts() {
		visit([]int{i + 1}, c, 1)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(""))
	f.Add([]byte("\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n\r\n--x--"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: x\r\n\r\n--d--\r\n"))
	f.Add([]byte("To: g: a@b, (c) <d@e>;;;,,<\r\nSubject: =?utf-8?q?=ff?= [fwd: re:]\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		exercise(t, raw)
	})
}

// TestLimits feeds hostile nesting and part counts.
func TestLimits(t *testing.T) {
	// 300 nested multiparts, each with its own boundary.
	var b strings.Builder
	for i := 0; i < 300; i++ {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + itoa(i) + "\r\n\r\n--b" + itoa(i) + "\r\n")
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeep\r\n")
	raw := []byte(b.String())
	exercise(t, raw)
	depth := 0
	for p := Parse(raw).Root(); len(p.Children) > 0; p = p.Children[0] {
		depth++
	}
	if depth > MaxDepth {
		t.Errorf("nesting depth %d exceeds MaxDepth", depth)
	}

	// 300 nested message/rfc822.
	raw = []byte(strings.Repeat("Content-Type: message/rfc822\r\n\r\n", 300) + "body")
	exercise(t, raw)
	depth = 0
	for p := Parse(raw).Root(); p.Embedded != nil; p = p.Embedded {
		depth++
	}
	if depth > MaxDepth {
		t.Errorf("rfc822 depth %d exceeds MaxDepth", depth)
	}

	// More parts than MaxParts.
	b.Reset()
	b.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
	for i := 0; i < MaxParts+500; i++ {
		b.WriteString("--x\r\n\r\np\r\n")
	}
	b.WriteString("--x--\r\n")
	m := Parse([]byte(b.String()))
	if n := len(m.Root().Children); n >= MaxParts || n < MaxParts/2 {
		t.Errorf("%d parts kept, limit %d", n, MaxParts)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestDigestDefault checks the multipart/digest default type (RFC 2046 §5.1.5).
func TestDigestDefault(t *testing.T) {
	m := Parse([]byte("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nbody one\r\n--d\r\nContent-Type: text/plain\r\n\r\nplain\r\n--d--\r\n"))
	p := m.Lookup([]int{1})
	if p.Type != "message" || p.Subtype != "rfc822" || p.Embedded == nil {
		t.Fatalf("digest part 1 is %s/%s", p.Type, p.Subtype)
	}
	h, ok := m.Section(Section{Part: []int{1}, Specifier: "HEADER"})
	if !ok || string(h) != "Subject: one\r\n\r\n" {
		t.Errorf("1.HEADER = %q", h)
	}
	want := `(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 24 (NIL "one" NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 8 1) 3)("TEXT" "PLAIN" NIL NIL NIL "7BIT" 5 1) "DIGEST")`
	if got := m.BodyStructure(false); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("From: Bench <bench@example.com>\r\nTo: a@example.com, b@example.com\r\nSubject: =?utf-8?q?benchmark?=\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"bench\"\r\n\r\n")
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 1) + "\r\n"
	for i := 0; sb.Len() < 100<<10; i++ {
		sb.WriteString("--bench\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		for j := 0; j < 40; j++ {
			sb.WriteString(line)
		}
		sb.WriteString("--bench\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		for j := 0; j < 20; j++ {
			sb.WriteString("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n")
		}
	}
	sb.WriteString("--bench--\r\n")
	raw := []byte(sb.String())
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		m := Parse(raw)
		_ = m.BodyStructure(true)
		_ = m.Envelope().IMAP()
	}
}

// checkSyntax verifies that s is one well-formed parenthesised IMAP list of
// NIL, numbers, quoted strings and literals (RFC 9051 §4), as ENVELOPE and
// BODYSTRUCTURE values must be.
func checkSyntax(t *testing.T, what, s string) {
	t.Helper()
	i, depth := 0, 0
	fail := func(msg string) { t.Fatalf("%s: %s at %d in %q", what, msg, i, s) }
	if !strings.HasPrefix(s, "(") {
		fail("does not start with (")
	}
	for i < len(s) {
		switch c := s[i]; {
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			i++
			if depth < 0 {
				fail("unbalanced )")
			}
			if depth == 0 && i != len(s) {
				fail("trailing data")
			}
		case c == ' ':
			if i+1 < len(s) && (s[i+1] == ' ' || s[i+1] == ')') {
				fail("stray space")
			}
			i++
		case c == '"':
			i++
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' {
					i++
				}
				if i < len(s) && (s[i] == '\r' || s[i] == '\n' || s[i] == 0) {
					fail("CR/LF/NUL in quoted string")
				}
				i++
			}
			if i >= len(s) {
				fail("unterminated quoted string")
			}
			i++
		case c == '{':
			j := strings.Index(s[i:], "}\r\n")
			if j < 0 {
				fail("bad literal")
			}
			n, err := strconv.Atoi(s[i+1 : i+j])
			if err != nil || i+j+3+n > len(s) {
				fail("bad literal length")
			}
			i += j + 3 + n
		case c >= '0' && c <= '9':
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
		case strings.HasPrefix(s[i:], "NIL"):
			i += 3
		default:
			fail("unexpected character")
		}
	}
	if depth != 0 {
		fail("unbalanced (")
	}
}
