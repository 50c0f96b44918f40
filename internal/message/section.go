package message

import (
	"errors"
	"strings"
)

// ErrUnknownCTE is returned by Binary and BinarySize for a part whose
// Content-Transfer-Encoding is not one the server can decode; the IMAP server
// answers with the [UNKNOWN-CTE] response code (RFC 3516 §4.3, RFC 9051).
var ErrUnknownCTE = errors.New("message: unknown content-transfer-encoding")

// Section returns the octets of a body section (RFC 9051 §6.4.5), exactly
// as stored. It reports false when the section does not exist (no such part,
// MIME on the whole message, or HEADER/TEXT on a part that is not
// message/rfc822); the server then returns an empty string or NIL.
//
// HEADER includes the blank line ending the header. HEADER.FIELDS and
// HEADER.FIELDS.NOT return the selected fields followed by a blank line
// (just CRLF when nothing matches).
func (m *Message) Section(s Section) ([]byte, bool) {
	p := m.Lookup(s.Part)
	if p == nil {
		return nil, false
	}
	spec := strings.ToUpper(s.Specifier)
	if len(s.Part) == 0 {
		switch spec {
		case "":
			return m.raw, true
		case "MIME":
			return nil, false
		}
	} else {
		switch spec {
		case "":
			return m.raw[p.BodyStart:p.End], true
		case "MIME":
			return m.raw[p.Start:p.BodyStart], true
		}
		// HEADER/TEXT of a part refer to the encapsulated message.
		if p.Embedded == nil {
			return nil, false
		}
		p = p.Embedded
	}
	switch spec {
	case "HEADER":
		return m.raw[p.Start:p.BodyStart], true
	case "TEXT":
		return m.raw[p.BodyStart:p.End], true
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		return m.headerFields(p, s.Fields, spec == "HEADER.FIELDS.NOT"), true
	}
	return nil, false
}

// headerFields selects header fields by name, as stored, plus a final CRLF.
// The names go into a set first, so the cost is linear in the number of
// names plus the number of header fields, never their product.
func (m *Message) headerFields(p *Part, names []string, not bool) []byte {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[strings.ToLower(n)] = true
	}
	var out []byte
	for _, f := range p.header {
		if want[strings.ToLower(f.name)] == not {
			continue
		}
		out = append(out, m.raw[f.start:f.end]...)
		if out[len(out)-1] != '\n' {
			out = append(out, '\r', '\n')
		}
	}
	return append(out, '\r', '\n')
}

// Binary returns the content of a part with its Content-Transfer-Encoding
// removed, for FETCH BINARY[part] (RFC 3516 / RFC 9051 §6.4.5). An empty
// path is the whole message, unchanged. Multipart and message/rfc822 parts
// are returned as stored. ok is false when the part does not exist; err is
// ErrUnknownCTE for an encoding other than 7bit, 8bit, binary, base64 and
// quoted-printable.
func (m *Message) Binary(part []int) ([]byte, bool, error) {
	p := m.Lookup(part)
	if p == nil {
		return nil, false, nil
	}
	if len(part) == 0 {
		return m.raw, true, nil
	}
	body := m.raw[p.BodyStart:p.End]
	if p.Type == "multipart" || p.Embedded != nil {
		return body, true, nil
	}
	dec, err := decodeCTE(p.Encoding, body)
	if err != nil {
		return nil, true, err
	}
	return dec, true, nil
}

// BinarySize returns the length of what Binary returns (BINARY.SIZE).
func (m *Message) BinarySize(part []int) (int, bool, error) {
	b, ok, err := m.Binary(part)
	return len(b), ok, err
}

// decodeCTE removes a transfer encoding. Decoding is lenient: invalid
// characters are skipped rather than failing the whole part.
func decodeCTE(enc string, body []byte) ([]byte, error) {
	switch enc {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "base64":
		return decodeBase64(body), nil
	case "quoted-printable":
		return decodeQP(body), nil
	}
	return nil, ErrUnknownCTE
}

// decodeBase64 decodes RFC 2045 §6.8 base64, ignoring characters outside
// the alphabet and stopping at padding.
func decodeBase64(in []byte) []byte {
	out := make([]byte, 0, len(in)*3/4)
	var acc uint32
	n := 0
	for _, c := range in {
		var v byte
		switch {
		case c >= 'A' && c <= 'Z':
			v = c - 'A'
		case c >= 'a' && c <= 'z':
			v = c - 'a' + 26
		case c >= '0' && c <= '9':
			v = c - '0' + 52
		case c == '+':
			v = 62
		case c == '/':
			v = 63
		case c == '=':
			goto done
		default:
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
done:
	switch n {
	case 2:
		out = append(out, byte(acc>>4))
	case 3:
		out = append(out, byte(acc>>10), byte(acc>>2))
	}
	return out
}

// decodeQP decodes RFC 2045 §6.7 quoted-printable: soft line breaks are
// removed, =XX becomes the octet, trailing white space on lines is dropped,
// and a malformed "=" is kept literally.
func decodeQP(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for pos := 0; pos < len(in); {
		le := lineEnd(in, pos, len(in))
		line := in[pos:le]
		pos = le
		brk := ""
		switch {
		case len(line) >= 2 && line[len(line)-2] == '\r' && line[len(line)-1] == '\n':
			line, brk = line[:len(line)-2], "\r\n"
		case len(line) >= 1 && line[len(line)-1] == '\n':
			line, brk = line[:len(line)-1], "\n"
		}
		for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
			line = line[:len(line)-1]
		}
		soft := false
		if len(line) > 0 && line[len(line)-1] == '=' {
			soft, line = true, line[:len(line)-1]
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c == '=' && i+2 < len(line) {
				h, ok1 := unhex(line[i+1])
				l, ok2 := unhex(line[i+2])
				if ok1 && ok2 {
					out = append(out, h<<4|l)
					i += 2
					continue
				}
			}
			out = append(out, c)
		}
		if !soft {
			out = append(out, brk...)
		}
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
