package sieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on scripts, so that a user's script cannot exhaust the server.
const (
	MaxScriptSize = 64 << 10 // bytes
	maxDepth      = 32       // nesting of blocks and tests
	maxStrings    = 1024     // strings in one string list
)

type argKind int

const (
	aTag argKind = iota
	aNumber
	aStrings
)

// Arg is one argument of a command or test.
type Arg struct {
	Kind argKind
	Tag  string
	Num  int64
	Strs []string
	list bool // written as [ ... ]
	Pos  Pos
}

// Command is one command of a script; control commands have a Test
// (if/elsif) and a Block.
type Command struct {
	Name  string
	Pos   Pos
	Args  []Arg
	Test  *Test
	Block []*Command
	call
}

// Test is one test of an if/elsif, or of allof/anyof/not.
type Test struct {
	Name  string
	Pos   Pos
	Args  []Arg
	Tests []*Test
	call
}

// call holds the arguments of a command or test once checked against the
// command's specification.
type call struct {
	tags map[string]Arg
	pos  []Arg
}

// Script is a parsed and checked Sieve script.
type Script struct {
	Commands []*Command
	Requires map[string]bool
}

type parser struct {
	lx    lexer
	tok   token
	depth int
}

// Parse parses and checks a script. Errors are *Error values with the
// line and column of the problem.
func Parse(src string) (*Script, error) {
	if len(src) > MaxScriptSize {
		return nil, errorf(Pos{1, 1}, "script too large (%d bytes, at most %d)", len(src), MaxScriptSize)
	}
	if !utf8.ValidString(src) {
		return nil, errorf(Pos{1, 1}, "script is not valid UTF-8")
	}
	p := &parser{lx: lexer{src: src, line: 1, col: 1}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cmds, err := p.commands()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, errorf(p.tok.pos, "unexpected %s", describe(p.tok))
	}
	s := &Script{Commands: cmds, Requires: map[string]bool{}}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of script"
	case tIdent:
		return "identifier " + strconv.Quote(t.text)
	case tTag:
		return "tag :" + t.text
	case tNumber:
		return "number"
	case tString:
		return "string"
	}
	return strconv.Quote(t.text)
}

func (p *parser) punct(s string) bool { return p.tok.kind == tPunct && p.tok.text == s }

func (p *parser) commands() ([]*Command, error) {
	var cmds []*Command
	for p.tok.kind == tIdent {
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

func (p *parser) command() (*Command, error) {
	c := &Command{Name: p.tok.text, Pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	args, err := p.arguments()
	if err != nil {
		return nil, err
	}
	c.Args = args
	if p.tok.kind == tIdent {
		if c.Test, err = p.test(); err != nil {
			return nil, err
		}
	} else if p.punct("(") {
		return nil, errorf(p.tok.pos, "a test list in ( ) is only allowed inside allof/anyof")
	}
	switch {
	case p.punct(";"):
		return c, p.advance()
	case p.punct("{"):
		p.depth++
		if p.depth > maxDepth {
			return nil, errorf(p.tok.pos, "blocks nested too deeply (at most %d)", maxDepth)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if c.Block, err = p.commands(); err != nil {
			return nil, err
		}
		if !p.punct("}") {
			return nil, errorf(p.tok.pos, "expected \"}\" or a command, found %s", describe(p.tok))
		}
		p.depth--
		if c.Block == nil {
			c.Block = []*Command{}
		}
		return c, p.advance()
	}
	return nil, errorf(p.tok.pos, "expected \";\" or \"{\" after command %q, found %s", c.Name, describe(p.tok))
}

func (p *parser) arguments() ([]Arg, error) {
	var args []Arg
	for {
		t := p.tok
		switch {
		case t.kind == tTag:
			args = append(args, Arg{Kind: aTag, Tag: t.text, Pos: t.pos})
		case t.kind == tNumber:
			args = append(args, Arg{Kind: aNumber, Num: t.num, Pos: t.pos})
		case t.kind == tString:
			args = append(args, Arg{Kind: aStrings, Strs: []string{t.text}, Pos: t.pos})
		case p.punct("["):
			a, err := p.stringList()
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			continue
		default:
			return args, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

func (p *parser) stringList() (Arg, error) {
	a := Arg{Kind: aStrings, list: true, Pos: p.tok.pos}
	for {
		if err := p.advance(); err != nil {
			return a, err
		}
		if p.tok.kind != tString {
			return a, errorf(p.tok.pos, "expected a string in the string list, found %s", describe(p.tok))
		}
		if len(a.Strs) >= maxStrings {
			return a, errorf(p.tok.pos, "string list too long")
		}
		a.Strs = append(a.Strs, p.tok.text)
		if err := p.advance(); err != nil {
			return a, err
		}
		if p.punct("]") {
			return a, p.advance()
		}
		if !p.punct(",") {
			return a, errorf(p.tok.pos, "expected \",\" or \"]\" in the string list, found %s", describe(p.tok))
		}
	}
}

func (p *parser) test() (*Test, error) {
	if p.tok.kind != tIdent {
		return nil, errorf(p.tok.pos, "expected a test, found %s", describe(p.tok))
	}
	p.depth++
	if p.depth > maxDepth {
		return nil, errorf(p.tok.pos, "tests nested too deeply (at most %d)", maxDepth)
	}
	defer func() { p.depth-- }()
	t := &Test{Name: p.tok.text, Pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return nil, err
	}
	args, err := p.arguments()
	if err != nil {
		return nil, err
	}
	t.Args = args
	switch {
	case p.punct("("):
		for {
			if err := p.advance(); err != nil {
				return nil, err
			}
			sub, err := p.test()
			if err != nil {
				return nil, err
			}
			t.Tests = append(t.Tests, sub)
			if p.punct(")") {
				return t, p.advance()
			}
			if !p.punct(",") {
				return nil, errorf(p.tok.pos, "expected \",\" or \")\" in the test list, found %s", describe(p.tok))
			}
		}
	case p.tok.kind == tIdent:
		sub, err := p.test()
		if err != nil {
			return nil, err
		}
		t.Tests = []*Test{sub}
	}
	return t, nil
}

// Extensions lists the capabilities this interpreter supports, as
// announced by ManageSieve's SIEVE capability.
var Extensions = []string{
	"body", "comparator-i;ascii-casemap", "comparator-i;octet", "copy",
	"encoded-character", "envelope", "ereject", "fileinto", "imap4flags",
	"mailbox", "reject", "vacation", "vacation-seconds", "variables",
}

func supported(ext string) bool {
	for _, e := range Extensions {
		if e == ext {
			return true
		}
	}
	return false
}

// check validates the whole script: require first, known commands and
// tests with the right arguments, extensions required before use.
func (s *Script) check() error {
	seenOther := false
	for _, c := range s.Commands {
		if c.Name != "require" {
			seenOther = true
			continue
		}
		if seenOther {
			return errorf(c.Pos, "require must come before any other command (RFC 5228 §3.2)")
		}
		if len(c.Args) != 1 || c.Args[0].Kind != aStrings || c.Test != nil || c.Block != nil {
			return errorf(c.Pos, "require takes one string list")
		}
		for _, e := range c.Args[0].Strs {
			if !supported(e) {
				return errorf(c.Args[0].Pos, "unsupported extension %q", e)
			}
			s.Requires[e] = true
		}
	}
	return s.checkBlock(s.Commands, true)
}

func (s *Script) checkBlock(cmds []*Command, top bool) error {
	prev := ""
	for _, c := range cmds {
		if c.Name == "require" {
			if !top {
				return errorf(c.Pos, "require is only allowed at the top of the script")
			}
			prev = ""
			continue
		}
		sp, ok := commandSpecs[c.Name]
		if !ok {
			return errorf(c.Pos, "unknown command %q", c.Name)
		}
		if sp.ext != "" && !s.Requires[sp.ext] {
			return errorf(c.Pos, "command %q needs require %q", c.Name, sp.ext)
		}
		if (c.Name == "elsif" || c.Name == "else") && prev != "if" && prev != "elsif" {
			return errorf(c.Pos, "%s without a preceding if", c.Name)
		}
		prev = c.Name
		if sp.block != (c.Block != nil) {
			if sp.block {
				return errorf(c.Pos, "command %q needs a block { ... }", c.Name)
			}
			return errorf(c.Pos, "command %q takes no block; expected \";\"", c.Name)
		}
		if sp.test != (c.Test != nil) {
			if sp.test {
				return errorf(c.Pos, "command %q needs a test", c.Name)
			}
			return errorf(c.Test.Pos, "command %q takes no test", c.Name)
		}
		var err error
		if c.call, err = s.bind(c.Name, c.Pos, c.Args, sp); err != nil {
			return err
		}
		if c.Test != nil {
			if err := s.checkTest(c.Test); err != nil {
				return err
			}
		}
		if c.Block != nil {
			if err := s.checkBlock(c.Block, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Script) checkTest(t *Test) error {
	sp, ok := testSpecs[t.Name]
	if !ok {
		return errorf(t.Pos, "unknown test %q", t.Name)
	}
	if sp.ext != "" && !s.Requires[sp.ext] {
		return errorf(t.Pos, "test %q needs require %q", t.Name, sp.ext)
	}
	switch {
	case sp.tests == 0 && len(t.Tests) > 0:
		return errorf(t.Tests[0].Pos, "test %q takes no test arguments", t.Name)
	case sp.tests == 1 && len(t.Tests) != 1:
		return errorf(t.Pos, "test %q takes exactly one test", t.Name)
	case sp.tests == 2 && len(t.Tests) == 0:
		return errorf(t.Pos, "test %q takes a list of tests in ( )", t.Name)
	}
	var err error
	if t.call, err = s.bind(t.Name, t.Pos, t.Args, sp); err != nil {
		return err
	}
	if t.Name == "size" && len(t.tags) != 1 {
		return errorf(t.Pos, "size needs exactly one of :over or :under")
	}
	for _, sub := range t.Tests {
		if err := s.checkTest(sub); err != nil {
			return err
		}
	}
	return nil
}

// bind sorts args into tags and positional arguments per sp.
func (s *Script) bind(name string, p Pos, args []Arg, sp spec) (call, error) {
	c := call{tags: map[string]Arg{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a.Kind != aTag {
			c.pos = append(c.pos, a)
			continue
		}
		if len(c.pos) > 0 {
			return c, errorf(a.Pos, "tag :%s must come before the positional arguments of %q", a.Tag, name)
		}
		ts, ok := sp.tags[a.Tag]
		if !ok {
			return c, errorf(a.Pos, "%q has no tag :%s", name, a.Tag)
		}
		if ts.ext != "" && !s.Requires[ts.ext] {
			return c, errorf(a.Pos, "tag :%s needs require %q", a.Tag, ts.ext)
		}
		group := ts.group
		if group == "" {
			group = a.Tag
		}
		if _, dup := c.tags[group]; dup {
			return c, errorf(a.Pos, "tag :%s conflicts with an earlier tag of %q", a.Tag, name)
		}
		switch ts.val {
		case vNumber:
			if i+1 >= len(args) || args[i+1].Kind != aNumber {
				return c, errorf(a.Pos, "tag :%s needs a number", a.Tag)
			}
			i++
			a.Num = args[i].Num
		case vString, vStrings:
			if i+1 >= len(args) || args[i+1].Kind != aStrings || (ts.val == vString && len(args[i+1].Strs) != 1) {
				return c, errorf(a.Pos, "tag :%s needs a %s", a.Tag, ts.val)
			}
			i++
			a.Strs = s.decode(args[i].Strs)
		}
		c.tags[group] = a
	}
	want := sp.pos
	if sp.optFirst && len(c.pos) == len(want)-1 {
		want = want[1:]
		c.pos = append([]Arg{{Kind: aStrings, Pos: p}}, c.pos...) // nil Strs marks "absent"
	}
	if len(c.pos) != len(sp.pos) {
		return c, errorf(p, "%q takes %d positional argument(s), found %d", name, len(sp.pos), len(c.pos))
	}
	off := len(sp.pos) - len(want)
	for i, w := range want {
		a := c.pos[off+i]
		switch w {
		case vNumber:
			if a.Kind != aNumber {
				return c, errorf(a.Pos, "%q expects a number here", name)
			}
		case vString, vStrings:
			if a.Kind != aStrings || (w == vString && len(a.Strs) != 1) {
				return c, errorf(a.Pos, "%q expects a %s here", name, w)
			}
			c.pos[off+i].Strs = s.decode(a.Strs)
		}
	}
	if m, ok := c.tags["comparator"]; ok {
		switch strings.ToLower(m.Strs[0]) {
		case "i;ascii-casemap", "i;octet":
		default:
			return c, errorf(m.Pos, "unsupported comparator %q", m.Strs[0])
		}
	}
	return c, nil
}

// decode applies encoded-character (RFC 5228 §2.4.2.4) when required.
func (s *Script) decode(strs []string) []string {
	if !s.Requires["encoded-character"] {
		return strs
	}
	out := make([]string, len(strs))
	for i, v := range strs {
		out[i] = decodeEncoded(v)
	}
	return out
}

// decodeEncoded replaces ${hex:41 42} and ${unicode:263a} sequences;
// malformed ones are left as they are.
func decodeEncoded(v string) string {
	var b strings.Builder
	for {
		i := strings.Index(v, "${")
		if i < 0 {
			b.WriteString(v)
			return b.String()
		}
		end := strings.IndexByte(v[i:], '}')
		if end < 0 {
			b.WriteString(v)
			return b.String()
		}
		body := v[i+2 : i+end]
		colon := strings.IndexByte(body, ':')
		var dec string
		ok := false
		if colon > 0 {
			kind := strings.ToLower(strings.TrimSpace(body[:colon]))
			fields := strings.Fields(body[colon+1:])
			if (kind == "hex" || kind == "unicode") && len(fields) > 0 {
				ok = true
				var d strings.Builder
				for _, f := range fields {
					n, err := strconv.ParseUint(f, 16, 32)
					if err != nil || (kind == "hex" && n > 255) || (kind == "unicode" && (n > utf8.MaxRune || (n >= 0xD800 && n <= 0xDFFF))) {
						ok = false
						break
					}
					if kind == "hex" {
						d.WriteByte(byte(n))
					} else {
						d.WriteRune(rune(n))
					}
				}
				dec = d.String()
			}
		}
		if ok {
			b.WriteString(v[:i])
			b.WriteString(dec)
		} else {
			b.WriteString(v[:i+end+1])
		}
		v = v[i+end+1:]
	}
}
