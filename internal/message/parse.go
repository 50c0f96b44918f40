package message

import (
	"bytes"
	"mime"
	"strings"
)

// field is one header field: raw[start:end] in the message, including the
// folded continuation lines and the final line break (if any).
type field struct {
	name       string // as written, surrounding white space removed
	start, end int
	valueStart int // offset just after the colon
}

// parser holds the state of one Parse call.
type parser struct {
	raw   []byte
	parts int // entities created so far, bounded by MaxParts
}

// Parse parses a complete message as stored (CRLF line endings; bare LF is
// tolerated). It never fails: malformed structure degrades to text/plain.
func Parse(raw []byte) *Message {
	p := &parser{raw: raw}
	return &Message{raw: raw, root: p.entity(0, len(raw), 0, false)}
}

// Raw returns the stored octets the message was parsed from.
func (m *Message) Raw() []byte { return m.raw }

// Root returns the top-level entity (the message itself).
func (m *Message) Root() *Part { return m.root }

// Size returns the size of the message in octets (RFC822.SIZE).
func (m *Message) Size() int { return len(m.raw) }

// lineEnd returns the offset just after the line starting at pos (after its
// LF), or end if the line is not terminated before end.
func lineEnd(raw []byte, pos, end int) int {
	if i := bytes.IndexByte(raw[pos:end], '\n'); i >= 0 {
		return pos + i + 1
	}
	return end
}

// isBlankLine reports whether line (including its terminator) is empty.
func isBlankLine(line []byte) bool {
	return len(line) == 0 || string(line) == "\n" || string(line) == "\r\n" || string(line) == "\r"
}

// parseHeader splits the header at raw[start:end] into fields and returns
// them with the offset where the body starts. The header ends at the first
// blank line (which belongs to the header) or, tolerantly, at the first line
// that is neither a field nor a continuation (which then starts the body).
func parseHeader(raw []byte, start, end int) ([]field, int) {
	var fields []field
	pos := start
	for pos < end {
		le := lineEnd(raw, pos, end)
		line := raw[pos:le]
		switch {
		case isBlankLine(line):
			return fields, le
		case line[0] == ' ' || line[0] == '\t':
			// RFC 5322 §2.2.3 folding: continuation of the previous field.
			if n := len(fields); n > 0 {
				fields[n-1].end = le
			}
		default:
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 || !validFieldName(bytes.TrimRight(line[:colon], " \t")) {
				if pos == start && bytes.HasPrefix(line, []byte("From ")) {
					// mbox "From " separator line: keep it as header junk.
					break
				}
				return fields, pos
			}
			fields = append(fields, field{
				name:       string(bytes.TrimRight(line[:colon], " \t")),
				start:      pos,
				end:        le,
				valueStart: pos + colon + 1,
			})
		}
		pos = le
	}
	return fields, end
}

// validFieldName checks RFC 5322 §3.6.8 ftext (printable US-ASCII but colon).
func validFieldName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// entity parses the MIME entity at raw[start:end]. digest selects the
// multipart/digest default content type (RFC 2046 §5.1.5).
func (p *parser) entity(start, end, depth int, digest bool) *Part {
	p.parts++
	fields, bodyStart := parseHeader(p.raw, start, end)
	part := &Part{Start: start, BodyStart: bodyStart, End: end, header: fields}
	part.Lines = countLines(p.raw[bodyStart:end])
	part.Encoding = part.cteFrom(p.raw)

	part.Type, part.Subtype, part.Params = "text", "plain", nil
	ct, hasCT := part.headerValue(p.raw, "content-type")
	defaulted := true
	if hasCT {
		if t, st, params, ok := parseContentType(ct); ok {
			part.Type, part.Subtype, part.Params = t, st, params
			defaulted = false
		}
	} else if digest {
		// RFC 2046 §5.1.5: the default in a digest is message/rfc822.
		part.Type, part.Subtype = "message", "rfc822"
		defaulted = false
	}
	if defaulted {
		// RFC 2045 §5.2: absent or invalid Content-Type means
		// text/plain; charset=us-ascii.
		part.Params = map[string]string{"charset": "us-ascii"}
	}

	limited := depth >= MaxDepth || p.parts >= MaxParts
	switch {
	case part.Type == "multipart":
		boundary := part.Params["boundary"]
		if boundary == "" || limited {
			part.degrade()
			break
		}
		if !p.multipart(part, boundary, depth) {
			part.degrade()
		}
	case part.Type == "message" && (part.Subtype == "rfc822" || part.Subtype == "global"):
		if limited {
			part.degrade()
			break
		}
		part.Embedded = p.entity(bodyStart, end, depth+1, false)
	}
	return part
}

// degrade turns a part whose structure cannot be used into text/plain.
func (part *Part) degrade() {
	part.Type, part.Subtype = "text", "plain"
	part.Params = map[string]string{"charset": "us-ascii"}
	part.Children, part.Embedded = nil, nil
}

// multipart splits the body of part at the boundary delimiters of RFC 2046
// §5.1.1. The CRLF preceding a delimiter line belongs to the delimiter. A
// missing close delimiter ends the last part at the end of the entity. It
// reports false if no body part was found.
func (p *parser) multipart(part *Part, boundary string, depth int) bool {
	raw, end := p.raw, part.End
	delim := []byte("--" + boundary)
	digest := part.Subtype == "digest"
	partStart := -1 // start of the current body part, -1 while in the preamble
	for pos := part.BodyStart; pos < end; {
		le := lineEnd(raw, pos, end)
		line := raw[pos:le]
		closing, ok := delimiterLine(line, delim)
		if !ok {
			pos = le
			continue
		}
		if partStart >= 0 {
			contentEnd := pos
			if contentEnd > part.BodyStart && raw[contentEnd-1] == '\n' {
				contentEnd--
				if contentEnd > part.BodyStart && raw[contentEnd-1] == '\r' {
					contentEnd--
				}
			}
			contentEnd = max(contentEnd, partStart)
			if p.parts >= MaxParts {
				return len(part.Children) > 0
			}
			part.Children = append(part.Children, p.entity(partStart, contentEnd, depth+1, digest))
		}
		if closing {
			return len(part.Children) > 0
		}
		partStart = le
		pos = le
	}
	if partStart >= 0 && p.parts < MaxParts {
		part.Children = append(part.Children, p.entity(partStart, end, depth+1, digest))
	}
	return len(part.Children) > 0
}

// delimiterLine reports whether line is a boundary delimiter line ("--b" or
// the close delimiter "--b--", optionally followed by linear white space).
func delimiterLine(line, delim []byte) (closing, ok bool) {
	if !bytes.HasPrefix(line, delim) {
		return false, false
	}
	rest := line[len(delim):]
	if bytes.HasPrefix(rest, []byte("--")) {
		closing = true
		rest = rest[2:]
	}
	for _, c := range rest {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false, false
		}
	}
	return closing, true
}

// countLines counts the lines of a body: line breaks, plus one for a final
// unterminated line.
func countLines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// parseContentType parses a Content-Type value leniently. ok is false when
// no usable type/subtype is present.
func parseContentType(v string) (typ, subtype string, params map[string]string, ok bool) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		mt, params = lenientMediaType(v)
	}
	typ, subtype, found := strings.Cut(mt, "/")
	if !found || !isToken(typ) || !isToken(subtype) {
		return "", "", nil, false
	}
	return strings.ToLower(typ), strings.ToLower(subtype), params, true
}

// lenientMediaType parses "type/subtype; a=b; c="d"" without the strictness
// of mime.ParseMediaType, for the malformed values real mail carries.
func lenientMediaType(v string) (string, map[string]string) {
	items := splitParams(v)
	if len(items) == 0 {
		return "", nil
	}
	mt := strings.ToLower(strings.TrimSpace(items[0]))
	params := map[string]string{}
	for _, it := range items[1:] {
		k, val, ok := strings.Cut(it, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = unescapeQuoted(val[1 : len(val)-1])
		} else {
			val = strings.Trim(val, `"`)
		}
		if k != "" && isToken(strings.TrimRight(k, "*")) {
			if _, dup := params[k]; !dup {
				params[k] = val
			}
		}
	}
	return mt, params
}

// splitParams splits at semicolons that are not inside a quoted string.
func splitParams(v string) []string {
	var out []string
	inQuote, esc, last := false, false, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case esc:
			esc = false
		case c == '\\' && inQuote:
			esc = true
		case c == '"':
			inQuote = !inQuote
		case c == ';' && !inQuote:
			out = append(out, v[last:i])
			last = i + 1
		}
	}
	return append(out, v[last:])
}

func unescapeQuoted(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isToken checks the RFC 2045 §5.1 token syntax.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// headerValue returns the unfolded value of the first field with the given
// (case-insensitive) name.
func (part *Part) headerValue(raw []byte, name string) (string, bool) {
	for _, f := range part.header {
		if strings.EqualFold(f.name, name) {
			return unfold(raw[f.valueStart:f.end]), true
		}
	}
	return "", false
}

// headerValues returns the unfolded values of all fields with that name.
func (part *Part) headerValues(raw []byte, name string) []string {
	var vs []string
	for _, f := range part.header {
		if strings.EqualFold(f.name, name) {
			vs = append(vs, unfold(raw[f.valueStart:f.end]))
		}
	}
	return vs
}

// unfold removes the line breaks of a folded field value (RFC 5322 §2.2.3)
// and trims surrounding white space. Stray CR/LF become spaces.
func unfold(v []byte) string {
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			if c == '\r' && i+1 < len(v) && v[i+1] == '\n' {
				i++
			}
			if i+1 < len(v) && (v[i+1] == ' ' || v[i+1] == '\t') {
				continue
			}
			b.WriteByte(' ')
			continue
		}
		if c == 0 {
			continue
		}
		b.WriteByte(c)
	}
	return strings.TrimSpace(b.String())
}

// children returns the numbered sub-parts of part as IMAP part numbers see
// them (RFC 9051 §6.4.5): a multipart's body parts; for message/rfc822 the
// parts of the encapsulated message (its body parts if it is multipart,
// otherwise its single body as part 1).
func (part *Part) children() []*Part {
	switch {
	case part.Type == "multipart":
		return part.Children
	case part.Embedded != nil:
		return part.Embedded.topParts()
	}
	return nil
}

// topParts returns the numbered parts of a message whose root entity is part.
func (part *Part) topParts() []*Part {
	if part.Type == "multipart" {
		return part.Children
	}
	return []*Part{part}
}

// Lookup returns the entity with the given part path (1-based numbers), the
// root for an empty path, or nil if there is no such part.
func (m *Message) Lookup(path []int) *Part {
	p := m.root
	if len(path) == 0 {
		return p
	}
	list := p.topParts()
	for i, n := range path {
		if n < 1 || n > len(list) {
			return nil
		}
		p = list[n-1]
		if i < len(path)-1 {
			list = p.children()
		}
	}
	return p
}
