package checks

import (
	"strings"
)

// authResult is one resinfo of an Authentication-Results field
// (RFC 8601 §2.2): "method=result (comment) reason=... ptype.prop=value
// (propcomment)".
type authResult struct {
	Method      string
	Result      string
	Comment     string // after the result, e.g. "p=reject"
	Reason      string
	Props       []prop
	PropComment string // after the properties, e.g. iprev's host name
}

// prop is one propspec: ptype.property=value.
type prop struct{ Ptype, Name, Value string }

// maxValue bounds every value written, so a header line never exceeds
// RFC 5322 §2.1.1's 998 octets whatever a client sent as HELO or address.
const maxValue = 256

// foldAt is the line length past which the writer folds (RFC 5322 §2.1.1
// recommends 78).
const foldAt = 78

// FormatAuthResults renders one Authentication-Results header field with
// authservID and results, folded before every resinfo and wherever a line
// would pass 78 characters, CRLF-terminated. Values that are not tokens
// (RFC 2045) or addresses are quoted; comments are escaped; control
// characters are dropped. With no results it writes "none" (RFC 8601
// §2.2).
func FormatAuthResults(authservID string, results []authResult) string {
	var b strings.Builder
	line := len("Authentication-Results: ")
	b.WriteString("Authentication-Results: ")
	id := quoteValue(authservID)
	b.WriteString(id)
	line += len(id)
	if len(results) == 0 {
		b.WriteString("; none\r\n")
		return b.String()
	}
	for _, r := range results {
		b.WriteString(";\r\n\t")
		line = 8 // a tab counts as up to 8 columns
		words := []string{sanitizeToken(r.Method) + "=" + sanitizeToken(r.Result)}
		if r.Comment != "" {
			words = append(words, comment(r.Comment))
		}
		if r.Reason != "" {
			words = append(words, "reason="+quoteString(r.Reason))
		}
		for _, p := range r.Props {
			words = append(words, sanitizeToken(p.Ptype)+"."+sanitizeToken(p.Name)+"="+pvalue(p.Value))
		}
		if r.PropComment != "" {
			words = append(words, comment(r.PropComment))
		}
		for i, w := range words {
			if i > 0 {
				if line+1+len(w) > foldAt {
					b.WriteString("\r\n\t")
					line = 8
				} else {
					b.WriteByte(' ')
					line++
				}
			}
			b.WriteString(w)
			line += len(w)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// clean drops control characters (CR and LF above all: they would end the
// header field) and bounds the length.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > maxValue {
		s = s[:maxValue]
		for len(s) > 0 && s[len(s)-1]&0xc0 == 0x80 { // keep UTF-8 whole
			s = s[:len(s)-1]
		}
		if len(s) > 0 && s[len(s)-1] >= 0xc0 {
			s = s[:len(s)-1]
		}
	}
	return s
}

// isTSpecial reports RFC 2045 §5.1's tspecials.
func isTSpecial(c byte) bool { return strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 }

// isToken reports whether s is an RFC 2045 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || isTSpecial(c) {
			return false
		}
	}
	return true
}

// sanitizeToken keeps only the token characters of s (method, result and
// property names are ours, so this only guards against programming
// errors).
func sanitizeToken(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxValue; i++ {
		if c := s[i]; c > ' ' && c < 0x7f && !isTSpecial(c) {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

// quoteValue writes an RFC 2045 value: the token as is, else a quoted
// string.
func quoteValue(s string) string {
	s = clean(s)
	if isToken(s) {
		return s
	}
	return quoteString(s)
}

// quoteString writes s as an RFC 5322 quoted-string, escaping '"' and
// '\' (RFC 5322 §3.2.4).
func quoteString(s string) string {
	s = clean(s)
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// pvalue writes a property value (RFC 8601 §2.2): a value, or an
// address "[local-part]@domain" left unquoted when both halves are
// dot-atoms.
func pvalue(s string) string {
	s = clean(s)
	if i := strings.LastIndexByte(s, '@'); i >= 0 && isDotAtom(s[i+1:]) && (i == 0 || isDotAtom(s[:i])) {
		return s
	}
	return quoteValue(s)
}

// isDotAtom reports RFC 5322 §3.2.3's dot-atom-text (ASCII only).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) < 0 {
			return false
		}
	}
	return true
}

// comment writes s as an RFC 5322 comment, escaping parentheses and '\'.
func comment(s string) string {
	s = clean(s)
	var b strings.Builder
	b.WriteByte('(')
	for i := 0; i < len(s); i++ {
		if s[i] == '(' || s[i] == ')' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte(')')
	return b.String()
}

// StripAuthResults removes Authentication-Results fields that claim
// authservID from a message's header (RFC 8601 §5: an MTA must remove
// fields claiming its own authserv-id that arrive from outside, or a
// sender could forge our verdicts). Fields of other authserv-ids are kept.
// The content is returned unchanged (the same slice) when there is nothing
// to remove.
func StripAuthResults(content []byte, authservID string) []byte {
	var drop []field
	for _, f := range headerFields(content) {
		if strings.EqualFold(f.name, "Authentication-Results") &&
			strings.EqualFold(normDomain(parseAuthservID(f.value(content))), normDomain(authservID)) {
			drop = append(drop, f)
		}
	}
	if len(drop) == 0 {
		return content
	}
	out := make([]byte, 0, len(content))
	pos := 0
	for _, f := range drop {
		out = append(out, content[pos:f.start]...)
		pos = f.end
	}
	return append(out, content[pos:]...)
}

// parseAuthservID returns the authserv-id at the start of an
// Authentication-Results value: after optional CFWS, a token (up to ';' or
// whitespace) or a quoted-string (RFC 8601 §2.2).
func parseAuthservID(v string) string {
	v = skipCFWS(v)
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch v[i] {
			case '\\':
				if i+1 < len(v) {
					i++
					b.WriteByte(v[i])
				}
			case '"':
				return b.String()
			default:
				b.WriteByte(v[i])
			}
		}
		return b.String()
	}
	end := strings.IndexFunc(v, func(r rune) bool {
		return r == ';' || r == ' ' || r == '\t' || r == '('
	})
	if end < 0 {
		end = len(v)
	}
	return v[:end]
}

// skipCFWS skips whitespace and (nested) comments.
func skipCFWS(v string) string {
	for {
		v = strings.TrimLeft(v, " \t")
		if !strings.HasPrefix(v, "(") {
			return v
		}
		depth := 0
		i := 0
		for ; i < len(v); i++ {
			switch v[i] {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if i >= len(v) {
			return ""
		}
		v = v[i+1:]
	}
}
