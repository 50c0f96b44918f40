package sieve

import (
	"fmt"
	"strconv"
	"strings"
)

// tokKind is the kind of a lexical token (RFC 5228 §8.1).
type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tTag
	tNumber
	tString
	tPunct // one of [ ] ( ) , ; { }
)

type token struct {
	kind tokKind
	text string // identifier, tag (without ':'), string value, punctuation
	num  int64
	pos  Pos
}

// Pos is a position in a script, 1-based.
type Pos struct{ Line, Col int }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Error is a syntax or validation error with its position in the script.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Pos.Line, e.Pos.Col, e.Msg)
}

func errorf(p Pos, format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

type lexer struct {
	src       string
	i         int
	line, col int
}

func (l *lexer) pos() Pos { return Pos{l.line, l.col} }

func (l *lexer) advance(n int) {
	for k := 0; k < n && l.i < len(l.src); k++ {
		if l.src[l.i] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.i++
	}
}

// skip passes white space and comments (RFC 5228 §2.3).
func (l *lexer) skip() *Error {
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '#':
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.advance(1)
			}
		case strings.HasPrefix(l.src[l.i:], "/*"):
			p := l.pos()
			end := strings.Index(l.src[l.i+2:], "*/")
			if end < 0 {
				return errorf(p, "unterminated comment")
			}
			l.advance(end + 4)
		default:
			return nil
		}
	}
	return nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (l *lexer) next() (token, *Error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.i >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := l.src[l.i]
	switch {
	case strings.IndexByte("[](),;{}", c) >= 0:
		l.advance(1)
		return token{kind: tPunct, text: string(c), pos: p}, nil
	case c == ':':
		l.advance(1)
		id := l.ident()
		if id == "" {
			return token{}, errorf(p, "expected a tag name after ':'")
		}
		return token{kind: tTag, text: strings.ToLower(id), pos: p}, nil
	case isDigit(c):
		j := l.i
		for j < len(l.src) && isDigit(l.src[j]) {
			j++
		}
		n, err := strconv.ParseInt(l.src[l.i:j], 10, 64)
		if err != nil || n > 1<<40 {
			return token{}, errorf(p, "number too large")
		}
		l.advance(j - l.i)
		if l.i < len(l.src) {
			switch l.src[l.i] {
			case 'K', 'k':
				n <<= 10
				l.advance(1)
			case 'M', 'm':
				n <<= 20
				l.advance(1)
			case 'G', 'g':
				n <<= 30
				l.advance(1)
			}
		}
		return token{kind: tNumber, num: n, pos: p}, nil
	case c == '"':
		return l.quoted(p)
	case isAlpha(c):
		id := l.ident()
		if strings.EqualFold(id, "text") && l.i < len(l.src) && l.src[l.i] == ':' {
			l.advance(1)
			return l.multiline(p)
		}
		return token{kind: tIdent, text: strings.ToLower(id), pos: p}, nil
	}
	return token{}, errorf(p, "unexpected character %q", c)
}

func (l *lexer) ident() string {
	j := l.i
	if j >= len(l.src) || !isAlpha(l.src[j]) {
		return ""
	}
	for j < len(l.src) && (isAlpha(l.src[j]) || isDigit(l.src[j])) {
		j++
	}
	s := l.src[l.i:j]
	l.advance(j - l.i)
	return s
}

// quoted reads a quoted string: \" and \\ are escapes, any other
// backslash is dropped (RFC 5228 §2.4.2).
func (l *lexer) quoted(p Pos) (token, *Error) {
	l.advance(1)
	var b strings.Builder
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch c {
		case '"':
			l.advance(1)
			return token{kind: tString, text: crlf(b.String()), pos: p}, nil
		case '\\':
			if l.i+1 < len(l.src) {
				b.WriteByte(l.src[l.i+1])
				l.advance(2)
				continue
			}
			l.advance(1)
		default:
			b.WriteByte(c)
			l.advance(1)
		}
	}
	return token{}, errorf(p, "unterminated string")
}

// multiline reads "text:" up to a line holding only "." (RFC 5228 §2.4.2),
// removing one leading dot from lines that start with "..".
func (l *lexer) multiline(p Pos) (token, *Error) {
	for l.i < len(l.src) && (l.src[l.i] == ' ' || l.src[l.i] == '\t') {
		l.advance(1)
	}
	if l.i < len(l.src) && l.src[l.i] == '#' {
		for l.i < len(l.src) && l.src[l.i] != '\n' {
			l.advance(1)
		}
	}
	if l.i < len(l.src) && l.src[l.i] == '\r' {
		l.advance(1)
	}
	if l.i >= len(l.src) || l.src[l.i] != '\n' {
		return token{}, errorf(l.pos(), "expected end of line after text:")
	}
	l.advance(1)
	var b strings.Builder
	for l.i < len(l.src) {
		end := strings.IndexByte(l.src[l.i:], '\n')
		var line string
		if end < 0 {
			line = l.src[l.i:]
			end = len(line) - 1
		} else {
			line = l.src[l.i : l.i+end]
		}
		line = strings.TrimSuffix(line, "\r")
		l.advance(end + 1)
		if line == "." {
			return token{kind: tString, text: b.String(), pos: p}, nil
		}
		if strings.HasPrefix(line, "..") { // dot-stuffing
			line = line[1:]
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	return token{}, errorf(p, "unterminated text: block (a line with a single \".\" is missing)")
}

// crlf makes line ends in string values CRLF, as in messages.
func crlf(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}
