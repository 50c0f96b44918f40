package message

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxQuoted is the longest value rendered as a quoted string; longer values
// become literals.
const maxQuoted = 1000

// writeNString appends s as an IMAP nstring: NIL when empty, otherwise as
// written by writeString.
func writeNString(b *strings.Builder, s string, utf8OK bool) {
	if s == "" {
		b.WriteString("NIL")
		return
	}
	writeString(b, s, utf8OK)
}

// writeString appends s as an IMAP string (RFC 9051 §4.3): a quoted string
// when possible, a literal {n}\r\n... when s contains CR or LF, is long, or
// carries 8-bit octets that the client did not enable UTF-8 for (or that are
// not valid UTF-8). NUL octets cannot be represented and are dropped.
func writeString(b *strings.Builder, s string, utf8OK bool) {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	literal := len(s) > maxQuoted || strings.ContainsAny(s, "\r\n")
	if !literal {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				literal = !utf8OK || !utf8.ValidString(s)
				break
			}
		}
	}
	if literal {
		b.WriteByte('{')
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteString("}\r\n")
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// Quote renders s as an IMAP string (quoted or literal, see writeString);
// exported for the server's convenience.
func Quote(s string, utf8OK bool) string {
	var b strings.Builder
	writeString(&b, s, utf8OK)
	return b.String()
}
