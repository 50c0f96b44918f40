package jmap

import (
	"bytes"
	"io"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decodes non-UTF-8 text parts
	gomail "github.com/emersion/go-message/mail"
)

// part is one MIME entity of a parsed message (RFC 8621 §4.1.4 EmailBodyPart).
type part struct {
	PartID      string
	Type        string
	Charset     string
	Disposition string
	Name        string
	CID         string
	Location    string
	Language    []string
	Size        int
	Header      gomessage.Header
	Body        []byte // decoded (transfer encoding, and charset for text)
	Sub         []*part
}

// maxParts bounds the entities read from one message.
const maxParts = 500

// parseParts parses raw into its tree of parts, numbering leaves "1", "2"...
// in document order. It never fails: an unreadable entity becomes a
// text/plain leaf with what could be read.
func parseParts(raw []byte) *part {
	n := 0
	e, err := gomessage.Read(bytes.NewReader(raw))
	if e == nil {
		return &part{PartID: "1", Type: "text/plain", Body: raw, Size: len(raw)}
	}
	_ = err // unknown charsets or encodings: keep what could be read
	return readPart(e, &n, 0)
}

func readPart(e *gomessage.Entity, n *int, depth int) *part {
	p := &part{Header: e.Header}
	t, params, err := e.Header.ContentType()
	if err != nil || t == "" {
		t, params = "text/plain", map[string]string{"charset": "us-ascii"}
	}
	p.Type = strings.ToLower(t)
	if strings.HasPrefix(p.Type, "text/") {
		p.Charset = params["charset"]
		if p.Charset == "" {
			p.Charset = "us-ascii"
		}
	}
	if d, dp, err := e.Header.ContentDisposition(); err == nil {
		p.Disposition = strings.ToLower(d)
		p.Name = dp["filename"]
	}
	if p.Name == "" {
		p.Name = params["name"]
	}
	p.CID = strings.Trim(e.Header.Get("Content-Id"), "<> ")
	p.Location = e.Header.Get("Content-Location")
	if lang := e.Header.Get("Content-Language"); lang != "" {
		for _, l := range strings.Split(lang, ",") {
			p.Language = append(p.Language, strings.TrimSpace(l))
		}
	}
	if mr := e.MultipartReader(); mr != nil && depth < 20 {
		for *n < maxParts {
			sub, err := mr.NextPart()
			if err != nil {
				break
			}
			p.Sub = append(p.Sub, readPart(sub, n, depth+1))
		}
		return p
	}
	*n++
	p.PartID = strconv.Itoa(*n)
	p.Body, _ = io.ReadAll(io.LimitReader(e.Body, 64<<20))
	p.Size = len(p.Body)
	return p
}

// find returns the leaf with partID.
func (p *part) find(partID string) *part {
	if p.PartID == partID && p.Sub == nil {
		return p
	}
	for _, s := range p.Sub {
		if f := s.find(partID); f != nil {
			return f
		}
	}
	return nil
}

func isInlineMedia(t string) bool {
	return strings.HasPrefix(t, "image/") || strings.HasPrefix(t, "audio/") || strings.HasPrefix(t, "video/")
}

// bodies sorts the leaves into textBody, htmlBody and attachments: the
// parseStructure algorithm of RFC 8621 §4.1.4.
type bodies struct{ text, html, attach []*part }

func (b *bodies) parse(parts []*part, multipartType string, inAlternative bool) {
	textLen, htmlLen := len(b.text), len(b.html)
	for i, p := range parts {
		isMultipart := strings.HasPrefix(p.Type, "multipart/")
		isInline := p.Disposition != "attachment" &&
			(p.Type == "text/plain" || p.Type == "text/html" || isInlineMedia(p.Type)) &&
			(i == 0 || (multipartType != "related" && (isInlineMedia(p.Type) || p.Name == "")))
		switch {
		case isMultipart:
			sub := strings.TrimPrefix(p.Type, "multipart/")
			b.parse(p.Sub, sub, inAlternative || sub == "alternative")
		case isInline:
			if multipartType == "alternative" {
				switch p.Type {
				case "text/plain":
					b.text = appendIf(b.text, p)
				case "text/html":
					b.html = appendIf(b.html, p)
				default:
					b.attach = append(b.attach, p)
				}
				continue
			} else if inAlternative {
				if p.Type == "text/plain" {
					b.html = nil
				}
				if p.Type == "text/html" {
					b.text = nil
				}
			}
			b.text = appendIf(b.text, p)
			b.html = appendIf(b.html, p)
			if (b.text == nil || b.html == nil) && isInlineMedia(p.Type) {
				b.attach = append(b.attach, p)
			}
		default:
			b.attach = append(b.attach, p)
		}
	}
	if multipartType == "alternative" && b.text != nil && b.html != nil {
		if textLen == len(b.text) && htmlLen != len(b.html) {
			b.text = append(b.text, b.html[htmlLen:]...)
		}
		if htmlLen == len(b.html) && textLen != len(b.text) {
			b.html = append(b.html, b.text[textLen:]...)
		}
	}
}

// appendIf appends to a list that is still active (non-nil).
func appendIf(list []*part, p *part) []*part {
	if list == nil {
		return nil
	}
	return append(list, p)
}

func structure(root *part) bodies {
	b := bodies{text: []*part{}, html: []*part{}}
	b.parse([]*part{root}, "mixed", false)
	if b.text == nil {
		b.text = []*part{}
	}
	if b.html == nil {
		b.html = []*part{}
	}
	return b
}

// addresses parses an address-list header (RFC 8621 §4.1.2.3 asAddresses).
func addresses(h gomessage.Header, name string) any {
	if h.Get(name) == "" {
		return nil
	}
	mh := gomail.Header{Header: h}
	list, err := mh.AddressList(name)
	if err != nil {
		return []any{}
	}
	out := []any{}
	for _, a := range list {
		var n any
		if a.Name != "" {
			n = a.Name
		}
		out = append(out, map[string]any{"name": n, "email": a.Address})
	}
	return out
}

// messageIDs parses a msg-id list header (RFC 8621 §4.1.2.5 asMessageIds).
func messageIDs(h gomessage.Header, name string) any {
	v := h.Get(name)
	if v == "" {
		return nil
	}
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\r' || r == '\n' }) {
		if id := strings.Trim(f, "<>"); id != "" && strings.HasPrefix(f, "<") {
			out = append(out, id)
		}
	}
	if out == nil {
		return nil
	}
	return out
}

// text decodes an unstructured header (RFC 8621 §4.1.2.2 asText).
func text(h gomessage.Header, name string) any {
	if !h.Has(name) {
		return nil
	}
	v, err := h.Text(name)
	if err != nil {
		v = h.Get(name)
	}
	return strings.TrimSpace(collapseWS(v))
}

func collapseWS(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r\n", " ", "\n", " ").Replace(s)), " ")
}

// date parses a date header (RFC 8621 §4.1.2.6 asDate), nil when invalid.
func date(h gomessage.Header, name string) any {
	v := h.Get(name)
	if v == "" {
		return nil
	}
	t, err := mail.ParseDate(v)
	if err != nil {
		return nil
	}
	return t.Format(time.RFC3339)
}

// bodyText returns the decoded text of a text part as UTF-8, cut at max
// bytes (0: no limit) on a character boundary.
func bodyText(p *part, max int) (string, bool) {
	s := string(p.Body)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if max > 0 && len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut], true
	}
	return s, false
}

// preview is the first text body, whitespace collapsed, cut at n
// characters when n >= 0 (RFC 8621 §4.1.4: 256 for the preview property).
func preview(b bodies, n int) string {
	for _, p := range b.text {
		if strings.HasPrefix(p.Type, "text/") {
			s, _ := bodyText(p, 0)
			if p.Type == "text/html" {
				s = stripTags(s)
			}
			s = collapseWS(s)
			if r := []rune(s); n >= 0 && len(r) > n {
				s = string(r[:n])
			}
			return s
		}
	}
	return ""
}

// stripTags removes HTML markup crudely, for previews only.
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
