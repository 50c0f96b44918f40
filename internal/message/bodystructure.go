package message

import (
	"mime"
	"sort"
	"strconv"
	"strings"
)

// BodyStructure renders the BODY (extended=false) or BODYSTRUCTURE
// (extended=true) of the message in IMAP syntax (RFC 9051 §7.5.2) for a
// client that has not enabled UTF-8.
func (m *Message) BodyStructure(extended bool) string {
	return m.BodyStructureFormat(extended, false)
}

// BodyStructureFormat is BodyStructure with the choice of allowing UTF-8 in
// quoted strings (after ENABLE UTF8=ACCEPT).
func (m *Message) BodyStructureFormat(extended, utf8OK bool) string {
	var b strings.Builder
	w := bsWriter{raw: m.raw, b: &b, ext: extended, utf8: utf8OK}
	w.part(m.root)
	return b.String()
}

type bsWriter struct {
	raw  []byte
	b    *strings.Builder
	ext  bool
	utf8 bool
}

func (w bsWriter) str(s string)  { writeString(w.b, s, w.utf8) }
func (w bsWriter) nstr(s string) { writeNString(w.b, s, w.utf8) }

func (w bsWriter) part(p *Part) {
	b := w.b
	b.WriteByte('(')
	if p.Type == "multipart" {
		// body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
		for _, c := range p.Children {
			w.part(c)
		}
		b.WriteByte(' ')
		w.str(strings.ToUpper(p.Subtype))
		if w.ext {
			b.WriteByte(' ')
			w.params(p.Params)
			w.extension(p)
		}
		b.WriteByte(')')
		return
	}
	// body-type-1part: media type, body-fields, then per type extras.
	w.str(strings.ToUpper(p.Type))
	b.WriteByte(' ')
	w.str(strings.ToUpper(p.Subtype))
	b.WriteByte(' ')
	w.params(p.Params)
	id, _ := p.headerValue(w.raw, "content-id")
	desc, _ := p.headerValue(w.raw, "content-description")
	b.WriteByte(' ')
	w.nstr(id)
	b.WriteByte(' ')
	w.nstr(desc)
	b.WriteByte(' ')
	w.str(strings.ToUpper(p.Encoding))
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(p.End - p.BodyStart))
	switch {
	case p.Embedded != nil:
		// body-type-msg: envelope SP body SP body-fld-lines
		b.WriteByte(' ')
		envelopeOf(w.raw, p.Embedded).write(b, w.utf8)
		b.WriteByte(' ')
		w.part(p.Embedded)
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(p.Lines))
	case p.Type == "text":
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(p.Lines))
	}
	if w.ext {
		// body-ext-1part: body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc ...]]]
		md5, _ := p.headerValue(w.raw, "content-md5")
		b.WriteByte(' ')
		w.nstr(md5)
		w.extension(p)
	}
	b.WriteByte(')')
}

// extension writes SP body-fld-dsp SP body-fld-lang SP body-fld-loc.
func (w bsWriter) extension(p *Part) {
	b := w.b
	b.WriteByte(' ')
	if v, ok := p.headerValue(w.raw, "content-disposition"); ok && v != "" {
		disp, params, err := mime.ParseMediaType(v)
		if err != nil {
			disp, params = lenientMediaType(v)
		}
		if disp == "" || !isToken(disp) {
			b.WriteString("NIL")
		} else {
			b.WriteByte('(')
			w.str(strings.ToUpper(disp))
			b.WriteByte(' ')
			w.params(params)
			b.WriteByte(')')
		}
	} else {
		b.WriteString("NIL")
	}
	b.WriteByte(' ')
	var langs []string
	if v, ok := p.headerValue(w.raw, "content-language"); ok {
		for _, l := range strings.Split(v, ",") {
			if l = strings.TrimSpace(stripComments(l)); l != "" {
				langs = append(langs, l)
			}
		}
	}
	switch len(langs) {
	case 0:
		b.WriteString("NIL")
	case 1:
		w.str(langs[0])
	default:
		b.WriteByte('(')
		for i, l := range langs {
			if i > 0 {
				b.WriteByte(' ')
			}
			w.str(l)
		}
		b.WriteByte(')')
	}
	b.WriteByte(' ')
	loc, _ := p.headerValue(w.raw, "content-location")
	w.nstr(loc)
}

// params writes a body-fld-param: ("NAME" "value" ...) sorted by name, or NIL.
func (w bsWriter) params(params map[string]string) {
	if len(params) == 0 {
		w.b.WriteString("NIL")
		return
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w.b.WriteByte('(')
	for i, k := range keys {
		if i > 0 {
			w.b.WriteByte(' ')
		}
		w.str(strings.ToUpper(k))
		w.b.WriteByte(' ')
		w.str(params[k])
	}
	w.b.WriteByte(')')
}

// cteFrom returns the lower-case Content-Transfer-Encoding, "7bit" when
// absent (RFC 2045 §6.1).
func (p *Part) cteFrom(raw []byte) string {
	v, ok := p.headerValue(raw, "content-transfer-encoding")
	v = strings.ToLower(strings.TrimSpace(stripComments(v)))
	if !ok || v == "" {
		return "7bit"
	}
	return v
}

// stripComments removes RFC 5322 comments "(...)".
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}
