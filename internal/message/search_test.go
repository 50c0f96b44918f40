package message

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBaseSubject covers the RFC 5256 §2.1 extraction steps with the
// cases in testdata/basesubject.txt.
func TestBaseSubject(t *testing.T) {
	raw, err := os.ReadFile("testdata/basesubject.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, line := range strings.Split(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		in, rest, err1 := unquoteField(line)
		want, rest, err2 := unquoteField(rest)
		if err1 != nil || err2 != nil || (rest != "" && rest != "reply") {
			t.Fatalf("line %d: malformed: %q", i+1, line)
		}
		n++
		base, reply := BaseSubjectReply(in)
		if base != want || reply != (rest == "reply") {
			t.Errorf("line %d: BaseSubjectReply(%q) = %q, %v; want %q, %v", i+1, in, base, reply, want, rest == "reply")
		}
		if got := BaseSubject(in); got != base {
			t.Errorf("BaseSubject(%q) = %q, BaseSubjectReply gave %q", in, got, base)
		}
	}
	if n < 30 {
		t.Fatalf("only %d cases read", n)
	}
}

// unquoteField reads one Go-quoted string from the start of s and returns
// it and the rest without leading blanks.
func unquoteField(s string) (string, string, error) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", err
	}
	v, err := strconv.Unquote(q)
	return v, strings.TrimLeft(s[len(q):], " "), err
}

// TestCaseMap: SORT keys are upper-cased (i;ascii-casemap), so "[" and "_"
// sort after letters.
func TestCaseMap(t *testing.T) {
	keys := []string{CaseMap("_"), CaseMap("[xyz]"), CaseMap("c"), CaseMap("B"), CaseMap("a")}
	if !sort.StringsAreSorted([]string{keys[4], keys[3], keys[2], keys[1], keys[0]}) {
		t.Errorf("CaseMap keys out of order: %q", keys)
	}
}

func TestSearchHelpers(t *testing.T) {
	m := mustRead(t, "rfc2047-subject.eml")
	if got := m.Subject(); got != "If you can read this you understand the example." {
		t.Errorf("Subject = %q", got)
	}
	if got := m.HeaderValues("FROM"); len(got) != 1 || got[0] != "Keld Jørn Simonsen <keld@dkuug.dk>" {
		t.Errorf("HeaderValues(From) = %q", got)
	}
	if want := time.Date(2025, 3, 8, 8, 30, 0, 0, time.UTC); !m.Date().Equal(want) {
		t.Errorf("Date = %v", m.Date())
	}
	// QP + ISO-8859-1 body decoded before matching, case-insensitively.
	if !m.TextContains("HYVÄÄ PÄIVÄÄ") || !m.TextContains("hyvää") || m.TextContains("goodbye") {
		t.Error("TextContains on QP latin-1 body")
	}
	if !m.HeaderContains("jørn") || !m.HeaderContains("subject: if you") || m.HeaderContains("nowhere") {
		t.Error("HeaderContains")
	}
	if got := m.SortAddress("from"); got != "KELD" {
		t.Errorf("SortAddress(from) = %q", got)
	}
	if got := m.SortDisplay("from"); got != "KELD JØRN SIMONSEN" {
		t.Errorf("SortDisplay(from) = %q", got)
	}
	// A group's name is the addr-mailbox of its first ENVELOPE address.
	if got := m.SortAddress("cc"); got != "UNDISCLOSED RECIPIENTS" {
		t.Errorf("SortAddress(cc) of an empty group = %q", got)
	}

	mixed := mustRead(t, "mixed-attachment.eml")
	if !mixed.TextContains("grüße aus köln") {
		t.Error("TextContains must convert iso-8859-1 8bit text")
	}
	if mixed.TextContains("JVBERi") || mixed.TextContains("report.pdf") {
		t.Error("TextContains must not search non-text parts or MIME headers")
	}
	if got := mixed.SortAddress("TO"); got != "DAVE" {
		t.Errorf("SortAddress(to) = %q", got)
	}
	if got := mixed.MessageID(); got != "mixed-1@example.net" {
		t.Errorf("MessageID = %q", got)
	}
	if got := strings.Join(mixed.References(), " "); got != "thread-0@example.com question-7@example.com" {
		t.Errorf("References = %q", got)
	}

	nested := mustRead(t, "nested-rfc822.eml")
	if !nested.TextContains("PART 4.2.2.1") || !nested.TextContains("part 3.1") {
		t.Error("TextContains must search encapsulated messages")
	}
	if got := nested.References(); got != nil {
		t.Errorf("References without headers = %q", got)
	}

	lf := mustRead(t, "bare-lf.eml")
	if got := lf.SortDisplay("from"); got != "UNIX USER" {
		t.Errorf("SortDisplay from comment name = %q", got)
	}
	if got := lf.SortDisplay("to"); got != "OTHER@EXAMPLE.COM" {
		t.Errorf("SortDisplay without name = %q", got)
	}
	if want := time.Date(2025, 3, 10, 7, 0, 0, 0, time.UTC); !lf.Date().Equal(want) {
		t.Errorf("Date without seconds = %v", lf.Date())
	}
	if got := BaseSubject(lf.Subject()); got != "stored with bare LF" {
		t.Errorf("BaseSubject = %q", got)
	}
}

func TestReferencesFallback(t *testing.T) {
	m := Parse([]byte("Message-ID:   <a@b>  \r\nIn-Reply-To: bogus <p1@x> <p2@x>\r\nReferences: no ids here\r\n\r\n"))
	if got := m.MessageID(); got != "a@b" {
		t.Errorf("MessageID = %q", got)
	}
	if got := m.References(); len(got) != 1 || got[0] != "p1@x" {
		t.Errorf("References fallback = %q", got)
	}
}

func TestDates(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
	}{
		{"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)", time.Date(1996, 7, 17, 9, 23, 25, 0, time.UTC)},
		{"17 Jul 1996 02:23:25 +0000", time.Date(1996, 7, 17, 2, 23, 25, 0, time.UTC)},
		{"Wed, 17 Jul 1996 02:23:25 GMT", time.Date(1996, 7, 17, 2, 23, 25, 0, time.UTC)},
		{"Wed 17 Jul 1996 02:23:25 +0000", time.Date(1996, 7, 17, 2, 23, 25, 0, time.UTC)},
		{"not a date", time.Time{}},
	}
	for _, c := range cases {
		got := Parse([]byte("Date: " + c.in + "\r\n\r\n")).Date()
		if !got.Equal(c.want) {
			t.Errorf("Date(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	if !Parse([]byte("Subject: x\r\n\r\n")).Date().IsZero() {
		t.Error("absent Date must be zero")
	}
}

func TestAddressParsing(t *testing.T) {
	cases := []struct{ in, want string }{
		{`a@example.com`, `((NIL NIL "a" "example.com"))`},
		{`"Doe, John" <john.doe@example.com>`, `(("Doe, John" NIL "john.doe" "example.com"))`},
		{`John Q. Public <jqp@example.com>, mary@x.test (Mary Smith)`, `(("John Q. Public" NIL "jqp" "example.com")("Mary Smith" NIL "mary" "x.test"))`},
		{`<@relay.example,@r2.example:user@dest.example>`, `((NIL "@relay.example,@r2.example" "user" "dest.example"))`},
		{`"john doe"@example.com`, `((NIL NIL "\"john doe\"" "example.com"))`},
		{`"plain"@example.com`, `((NIL NIL "plain" "example.com"))`},
		{`Team: a@x.test, b@y.test;`, `((NIL NIL "Team" NIL)(NIL NIL "a" "x.test")(NIL NIL "b" "y.test")(NIL NIL NIL NIL))`},
		{`Empty:;`, `((NIL NIL "Empty" NIL)(NIL NIL NIL NIL))`},
		{`user@[192.0.2.1]`, `((NIL NIL "user" "[192.0.2.1]"))`},
		{`nodomain`, `((NIL NIL "nodomain" ""))`},
		{`<>`, `((NIL NIL "" ""))`},
		{`Unterminated <a@b.test`, `(("Unterminated" NIL "a" "b.test"))`},
		{`, ,`, `NIL`},
		{`a@x.test (A), b@y.test`, `(("A" NIL "a" "x.test")(NIL NIL "b" "y.test"))`},
		{`(only a comment), c (C) @ z.test`, `(("C" NIL "c" "z.test"))`},
		{`"Quote \"inside\"" <q@x.test>`, `(("Quote \"inside\"" NIL "q" "x.test"))`},
	}
	for _, c := range cases {
		var b strings.Builder
		writeAddressList(&b, parseAddressList(c.in), false)
		if b.String() != c.want {
			t.Errorf("%s\n got  %s\n want %s", c.in, b.String(), c.want)
		}
	}
}

func TestEnvelopeDefaults(t *testing.T) {
	m := Parse([]byte("From: a@x.test\r\nSender: s@x.test\r\nReply-To:\r\nSubject: \"quoted\" \\ back\r\n\r\nbody"))
	want := `(NIL "\"quoted\" \\ back" ((NIL NIL "a" "x.test")) ((NIL NIL "s" "x.test")) ((NIL NIL "a" "x.test")) NIL NIL NIL NIL NIL)`
	if got := m.Envelope().IMAP(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := Parse(nil).Envelope().IMAP(); got != "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" {
		t.Errorf("empty message envelope %s", got)
	}
}

func TestQuote(t *testing.T) {
	cases := []struct {
		in   string
		utf8 bool
		want string
	}{
		{"abc", false, `"abc"`},
		{`a"b\c`, false, `"a\"b\\c"`},
		{"", false, `""`},
		{"x\r\ny", false, "{4}\r\nx\r\ny"},
		{"café", false, "{5}\r\ncafé"},
		{"café", true, `"café"`},
		{"bad\xff", true, "{4}\r\nbad\xff"},
		{"n\x00ul", false, `"nul"`},
		{strings.Repeat("a", 1001), false, "{1001}\r\n" + strings.Repeat("a", 1001)},
	}
	for _, c := range cases {
		if got := Quote(c.in, c.utf8); got != c.want {
			t.Errorf("Quote(%q, %v) = %q, want %q", c.in, c.utf8, got, c.want)
		}
	}
}

// TestSortKeys: the address keys of SORT (RFC 5256 §3) and SORT=DISPLAY
// (RFC 5957 §3) take the first address as ENVELOPE lists it, so a group's
// name counts; display names are decoded and fall back to the addr-spec.
func TestSortKeys(t *testing.T) {
	cases := []struct{ to, addr, display string }{
		{"foo bar <a@b.c>", "A", "FOO BAR"},
		{"b@c.d", "B", "B@C.D"},
		{"d", "D", "D"},
		{"=?iso-8859-1?q?foo_aar?= <e@f.g>", "E", "FOO AAR"},
		{"a: xx@xx.org, yy@yy.org;", "A", "A"},
		{"empty:;", "EMPTY", "EMPTY"},
		{"user2@domain2.org (foo bar)", "USER2", "FOO BAR"},
		{"user2: blah@domain1.org;", "USER2", "USER2"},
		{"", "", ""},
	}
	for _, c := range cases {
		m := Parse([]byte("To: " + c.to + "\r\n\r\nbody\r\n"))
		if got := m.SortAddress("to"); got != c.addr {
			t.Errorf("SortAddress(To: %s) = %q, want %q", c.to, got, c.addr)
		}
		if got := m.SortDisplay("to"); got != c.display {
			t.Errorf("SortDisplay(To: %s) = %q, want %q", c.to, got, c.display)
		}
	}
	if got := Parse([]byte("Subject: x\r\n\r\n")).SortAddress("cc"); got != "" {
		t.Errorf("SortAddress without the header = %q", got)
	}
}
