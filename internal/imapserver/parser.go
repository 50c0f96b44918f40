package imapserver

import (
	"strconv"
	"strings"
)

// maxDepth bounds nesting of parenthesised lists and search keys.
const maxDepth = 32

// syntaxError is a malformed command; the session answers BAD.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

func errSyntax(msg string) error { return &syntaxError{msg} }

// parser reads the IMAP grammar (RFC 9051 §9) from one framed command.
// Literals appear in place as "{n}\r\n" followed by n bytes.
type parser struct {
	b   []byte
	pos int
}

func newParser(b []byte) *parser { return &parser{b: b} }

func (p *parser) eof() bool { return p.pos >= len(p.b) }

func (p *parser) peek() byte {
	if p.pos >= len(p.b) {
		return 0
	}
	return p.b[p.pos]
}

func (p *parser) accept(c byte) bool {
	if p.peek() == c && !p.eof() {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(c byte) error {
	if !p.accept(c) {
		if p.eof() {
			return errSyntax("unexpected end of command, expected '" + string(c) + "'")
		}
		return errSyntax("expected '" + string(c) + "'")
	}
	return nil
}

func (p *parser) sp() error { return p.expect(' ') }

// end checks that the whole command was consumed.
func (p *parser) end() error {
	if !p.eof() {
		return errSyntax("unexpected characters at end of command")
	}
	return nil
}

func isAtomChar(c byte) bool {
	if c <= 0x1f || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// isAstringChar is ATOM-CHAR plus resp-specials (']').
func isAstringChar(c byte) bool { return c == ']' || isAtomChar(c) }

// isListChar is ASTRING-CHAR plus list-wildcards.
func isListChar(c byte) bool { return c == '%' || c == '*' || isAstringChar(c) }

func (p *parser) takeWhile(ok func(byte) bool) string {
	start := p.pos
	for p.pos < len(p.b) && ok(p.b[p.pos]) {
		p.pos++
	}
	return string(p.b[start:p.pos])
}

// atom reads 1*ATOM-CHAR.
func (p *parser) atom() (string, error) {
	s := p.takeWhile(isAtomChar)
	if s == "" {
		return "", errSyntax("expected an atom")
	}
	return s, nil
}

// keyword reads an atom and returns it upper-cased.
func (p *parser) keyword() (string, error) {
	s, err := p.atom()
	return strings.ToUpper(s), err
}

// tag reads a command tag: ASTRING-CHAR except "+".
func (p *parser) tag() (string, error) {
	s := p.takeWhile(func(c byte) bool { return c != '+' && isAstringChar(c) })
	if s == "" {
		return "", errSyntax("missing tag")
	}
	return s, nil
}

// literal reads "{n}" / "{n+}" / "~{n}" CRLF and the n bytes.
func (p *parser) literal() ([]byte, error) {
	p.accept('~')
	if err := p.expect('{'); err != nil {
		return nil, err
	}
	start := p.pos
	for p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9' {
		p.pos++
	}
	n, err := strconv.ParseInt(string(p.b[start:p.pos]), 10, 64)
	if err != nil || n < 0 {
		return nil, errSyntax("bad literal size")
	}
	p.accept('+')
	if err := p.expect('}'); err != nil {
		return nil, err
	}
	if !p.accept('\r') || !p.accept('\n') {
		return nil, errSyntax("literal size must end the line")
	}
	if int64(len(p.b)-p.pos) < n {
		return nil, errSyntax("literal truncated")
	}
	lit := p.b[p.pos : p.pos+int(n)]
	p.pos += int(n)
	return lit, nil
}

// quoted reads a quoted string with \" and \\ escapes.
func (p *parser) quoted() (string, error) {
	if err := p.expect('"'); err != nil {
		return "", err
	}
	var sb strings.Builder
	for {
		if p.eof() {
			return "", errSyntax("unterminated quoted string")
		}
		c := p.b[p.pos]
		p.pos++
		switch c {
		case '"':
			return sb.String(), nil
		case '\\':
			if p.eof() || (p.b[p.pos] != '"' && p.b[p.pos] != '\\') {
				return "", errSyntax("bad escape in quoted string")
			}
			sb.WriteByte(p.b[p.pos])
			p.pos++
		case '\r', '\n', 0:
			return "", errSyntax("bad character in quoted string")
		default:
			sb.WriteByte(c)
		}
	}
}

// atString reports whether a string (quoted, literal or literal8) starts
// here. '~' is an ATOM-CHAR (RFC 9051 §9: atom-specials do not include
// it), so only "~{" starts a literal8; "~foo" is an atom.
func (p *parser) atString() bool {
	switch p.peek() {
	case '"', '{':
		return true
	case '~':
		return p.pos+1 < len(p.b) && p.b[p.pos+1] == '{'
	}
	return false
}

// str reads a string: quoted or literal.
func (p *parser) str() (string, error) {
	switch {
	case p.peek() == '"':
		return p.quoted()
	case p.atString():
		b, err := p.literal()
		return string(b), err
	}
	return "", errSyntax("expected a string")
}

// astring reads an atom (with ']' allowed) or a string.
func (p *parser) astring() (string, error) {
	if p.atString() {
		return p.str()
	}
	s := p.takeWhile(isAstringChar)
	if s == "" {
		return "", errSyntax("expected an astring")
	}
	return s, nil
}

// nstring reads NIL or a string; nil reports NIL.
func (p *parser) nstring() (s string, isNil bool, err error) {
	if p.peek() != '"' && p.peek() != '{' {
		a, err := p.atom()
		if err != nil || !strings.EqualFold(a, "NIL") {
			return "", false, errSyntax("expected a string or NIL")
		}
		return "", true, nil
	}
	s, err = p.str()
	return s, false, err
}

// listMailbox reads a LIST pattern: 1*list-char or a string.
func (p *parser) listMailbox() (string, error) {
	if p.atString() {
		return p.str()
	}
	s := p.takeWhile(isListChar)
	if s == "" {
		return "", errSyntax("expected a mailbox pattern")
	}
	return s, nil
}

func (p *parser) digits() (string, error) {
	s := p.takeWhile(func(c byte) bool { return c >= '0' && c <= '9' })
	if s == "" {
		return "", errSyntax("expected a number")
	}
	return s, nil
}

// number reads a 32-bit unsigned number.
func (p *parser) number() (uint32, error) {
	s, err := p.digits()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errSyntax("number out of range")
	}
	return uint32(v), nil
}

// number64 reads a 63-bit unsigned number (mod-sequence values, sizes).
func (p *parser) number64() (uint64, error) {
	s, err := p.digits()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, errSyntax("number out of range")
	}
	return v, nil
}

// flag reads one flag: "\" atom (system flag) or a keyword atom.
func (p *parser) flag() (string, error) {
	if p.accept('\\') {
		if p.accept('*') {
			return `\*`, nil
		}
		a, err := p.atom()
		if err != nil {
			return "", err
		}
		return `\` + a, nil
	}
	return p.atom()
}

// flagList reads "(" [flag *(SP flag)] ")".
func (p *parser) flagList() ([]string, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	var flags []string
	for !p.accept(')') {
		if len(flags) > 0 {
			if err := p.sp(); err != nil {
				return nil, err
			}
		}
		f, err := p.flag()
		if err != nil {
			return nil, err
		}
		if len(flags) >= 1000 {
			return nil, errSyntax("too many flags")
		}
		flags = append(flags, f)
	}
	return flags, nil
}

// flagsArg reads a flag list, or (as STORE allows) flags without parens.
func (p *parser) flagsArg() ([]string, error) {
	if p.peek() == '(' {
		return p.flagList()
	}
	var flags []string
	for {
		f, err := p.flag()
		if err != nil {
			return nil, err
		}
		flags = append(flags, f)
		if len(flags) > 1000 {
			return nil, errSyntax("too many flags")
		}
		if p.peek() != ' ' {
			return flags, nil
		}
		p.pos++
	}
}

// astringList reads "(" astring *(SP astring) ")" (ID parameters, ...).
func (p *parser) nstringList() ([]string, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	var out []string
	for !p.accept(')') {
		if len(out) > 0 {
			if err := p.sp(); err != nil {
				return nil, err
			}
		}
		s, isNil, err := p.nstring()
		if err != nil {
			return nil, err
		}
		if isNil {
			s = "NIL"
		}
		if len(out) >= 256 {
			return nil, errSyntax("list too long")
		}
		out = append(out, s)
	}
	return out, nil
}

// skipValue skips one tagged-ext-val style value: an atom, number,
// string or parenthesised list (bounded nesting).
func (p *parser) skipValue(depth int) error {
	if depth > maxDepth {
		return errSyntax("nesting too deep")
	}
	switch p.peek() {
	case '(':
		p.pos++
		first := true
		for !p.accept(')') {
			if !first {
				if err := p.sp(); err != nil {
					return err
				}
			}
			first = false
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
		}
		return nil
	}
	if p.atString() {
		_, err := p.str()
		return err
	}
	s := p.takeWhile(func(c byte) bool { return isListChar(c) || c == '\\' })
	if s == "" {
		return errSyntax("expected a value")
	}
	return nil
}

// dateTime parses an IMAP date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" in quotes.
func (p *parser) dateTime() (string, error) {
	s, err := p.quoted()
	if err != nil {
		return "", err
	}
	return s, nil
}

// listRest parses the rest of a parenthesised list whose "(" the caller
// has consumed: elements separated by single spaces, up to and including
// ")". each parses one element.
func (p *parser) listRest(each func() error) error {
	for first := true; !p.accept(')'); first = false {
		if !first {
			if err := p.sp(); err != nil {
				return err
			}
		}
		if err := each(); err != nil {
			return err
		}
	}
	return nil
}
