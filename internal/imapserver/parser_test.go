package imapserver

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"pochta/internal/mutf7"
)

// parseAll runs every grammar entry point over b, as the commands do.
func parseAll(b []byte) {
	cr := &commandReader{r: bufio.NewReader(bytes.NewReader(b)), maxAppend: 1 << 20, cont: func() error { return nil }}
	for i := 0; i < 20; i++ {
		cmd, err := cr.read()
		if err != nil {
			if _, ok := err.(*literalError); ok {
				continue
			}
			break
		}
		for _, f := range []func(p *parser){
			func(p *parser) { p.tag() },
			func(p *parser) { p.astring() },
			func(p *parser) { p.seqSet() },
			func(p *parser) { p.searchKeys(0) },
			func(p *parser) { p.fetchAtts() },
			func(p *parser) { p.flagList() },
			func(p *parser) { p.flagsArg() },
			func(p *parser) { p.listMailbox() },
			func(p *parser) { p.nstringList() },
			func(p *parser) { p.skipValue(0) },
			func(p *parser) { parseStatusItems(p) },
			func(p *parser) { parseQresync(p) },
			func(p *parser) { p.searchDate() },
		} {
			p := newParser(cmd)
			// Skip "tag SP [UID SP] NAME SP" when present, like execute.
			if _, err := p.tag(); err == nil && p.accept(' ') {
				if kw, err := p.keyword(); err == nil && kw == "UID" && p.accept(' ') {
					p.keyword()
				}
				p.accept(' ')
			} else {
				p.pos = 0
			}
			f(p)
		}
		mutf7.Decode(string(cmd))
		s := &session{}
		s.decodeName(string(cmd))
	}
}

func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"a LOGIN alice \"pass word\"\r\n",
		"a1 UID FETCH 1:*,5 (UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM \"SUBJECT\")]<0.100> BINARY[1.2] MODSEQ) (CHANGEDSINCE 5 VANISHED)\r\n",
		"a SEARCH RETURN (MIN MAX COUNT SAVE) CHARSET UTF-8 OR (FROM x SUBJECT {3+}\r\nabc) NOT UID 1:5 SINCE 1-Feb-2020 MODSEQ 5\r\n",
		"a APPEND INBOX (\\Seen $Junk) \"05-Jan-2026 10:00:00 +0100\" {5}\r\nhello\r\n",
		"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (% \"Work/*\") RETURN (CHILDREN STATUS (MESSAGES SIZE))\r\n",
		"a SELECT INBOX (QRESYNC (123 45 1:10 (1,5 1,5)))\r\n",
		"a STORE 1:3 (UNCHANGEDSINCE 9) +FLAGS.SILENT (\\Deleted)\r\n",
		"a SORT (REVERSE DATE SUBJECT) UTF-8 ALL\r\n",
		"a ID (\"name\" \"x\" \"version\" NIL)\r\n",
		"a CREATE &AOQ-b/c\r\n",
		"a FETCH 1 BODY[1.2.MIME]\r\n",
		"((((((((((((((((((((((((((((((((((((((\r\n",
		"a {99999999999}\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		parseAll(b)
	})
}

func TestParserGrammar(t *testing.T) {
	p := newParser([]byte(`"a\"b" {3}` + "\r\nxyz atom]x"))
	if s, err := p.astring(); err != nil || s != `a"b` {
		t.Fatalf("quoted: %q %v", s, err)
	}
	p.sp()
	if s, err := p.astring(); err != nil || s != "xyz" {
		t.Fatalf("literal: %q %v", s, err)
	}
	p.sp()
	if s, err := p.astring(); err != nil || s != "atom]x" {
		t.Fatalf("atom: %q %v", s, err)
	}
	if p.end() != nil {
		t.Fatal("not at end")
	}
	set, err := newParser([]byte("1:3,7,*,9:5")).seqSet()
	if err != nil {
		t.Fatal(err)
	}
	got := set.resolve(20, 20)
	want := []seqRange{{1, 3}, {5, 9}, {20, 20}}
	if len(got) != len(want) {
		t.Fatalf("resolve: %v", got)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("resolve: %v", got)
		}
	}
	for _, bad := range []string{"0", "1:", ",", "a", "4294967296"} {
		if _, err := newParser([]byte(bad)).seqSet(); err == nil {
			t.Errorf("seqSet(%q) accepted", bad)
		}
	}
	deep := strings.Repeat("(", 40) + "ALL" + strings.Repeat(")", 40)
	if _, err := newParser([]byte(deep)).searchKeys(0); err == nil {
		t.Error("deep search nesting accepted")
	}
	k, err := newParser([]byte(`OR SUBJECT "x y" NOT SEEN 1:2 HEADER X-Spam yes`)).searchKeys(0)
	if err != nil || k.op != sAnd || len(k.kids) != 3 || k.kids[0].op != sOr {
		t.Fatalf("search: %+v %v", k, err)
	}
	items, err := newParser([]byte(`(BODY.PEEK[1.2.HEADER.FIELDS.NOT (to cc)]<10.20> FAST)`)).fetchAtts()
	if err == nil {
		t.Fatalf("FAST inside a list accepted: %+v", items)
	}
	items, err = newParser([]byte(`(BODY.PEEK[1.2.HEADER.FIELDS.NOT (to cc)]<10.20> BINARY.SIZE[1] RFC822.SIZE)`)).fetchAtts()
	if err != nil || len(items) != 3 || items[0].label != "1.2.HEADER.FIELDS.NOT (TO CC)" || !items[0].partial || items[0].offset != 10 {
		t.Fatalf("fetch atts: %+v %v", items, err)
	}
}

func TestReaderLiterals(t *testing.T) {
	in := "a LOGIN {5}\r\nalice {3+}\r\npwd\r\nb NOOP\r\n" + "e SELECT {999999}\r\n" +
		"c X " + strings.Repeat("x", maxLineLength+10) // no end: it never comes
	conts := 0
	cr := &commandReader{r: bufio.NewReader(strings.NewReader(in)), maxAppend: 100, cont: func() error { conts++; return nil }}
	cmd, err := cr.read()
	if err != nil || string(cmd) != "a LOGIN {5}\r\nalice {3+}\r\npwd" || conts != 1 {
		t.Fatalf("%q %v %d", cmd, err, conts)
	}
	if cmd, err = cr.read(); err != nil || string(cmd) != "b NOOP" {
		t.Fatalf("%q %v", cmd, err)
	}
	_, err = cr.read()
	if le, ok := err.(*literalError); !ok || le.tag != "e" || !le.sync {
		t.Fatalf("big literal: %v", err)
	}
	// An over-long line is refused as soon as it passes the limit, before
	// its end arrives (the session then closes).
	if _, err = cr.read(); err != errLineTooLong {
		t.Fatalf("long line: %v", err)
	}
}

func TestCleanName(t *testing.T) {
	for _, bad := range []string{"", "../x", "/etc", "a//b", "a/", "a/./b", "x\x00y", "x\ry", strings.Repeat("a", 1001), "\xff"} {
		if _, ok := cleanName(bad); ok {
			t.Errorf("cleanName(%q) accepted", bad)
		}
	}
	if n, ok := cleanName("inbox/Sub"); !ok || n != "INBOX/Sub" {
		t.Errorf("inbox/Sub → %q", n)
	}
}

func TestMatchPattern(t *testing.T) {
	for _, c := range []struct {
		pat, name string
		want      bool
	}{
		{"*", "a/b", true}, {"%", "a/b", false}, {"%", "a", true}, {"a/%", "a/b", true}, {"a/%", "a/b/c", false},
		{"a*c", "abc", true}, {"INBOX", "INBOX", true}, {"a%b*", "axxb/c", true},
	} {
		if got := matchPattern(c.pat, c.name); got != c.want {
			t.Errorf("match(%q, %q) = %v", c.pat, c.name, got)
		}
	}
}
