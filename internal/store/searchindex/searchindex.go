// Package searchindex extracts what IMAP SEARCH matches in a message
// (RFC 9051 §6.4.4: header fields, the decoded text of text/* parts, with
// substring semantics): every store backend indexes this once per message
// (at delivery, or right after it in the background) so that SEARCH never
// reads message contents. It never fails: what cannot be parsed is simply
// not indexed, and every part is bounded.
package searchindex

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // legacy charsets for decoding
	"github.com/emersion/go-message/textproto"

	msgtext "pochta/internal/message"
)

// Index limits: what is indexed of one message.
const (
	maxHeaderBytes = 256 << 10 // header text kept per message
	MaxHeaders     = 1000      // header fields kept per message
	MaxBodyBytes   = 1 << 20   // decoded body text kept per message
	maxParts       = 500       // MIME parts visited
	maxDepth       = 20        // MIME nesting followed
	maxPartRead    = 8 << 20   // bytes read from one part's decoded body
)

// Text is the searchable text of one message, all lower case.
type Text struct {
	Subject, From, To, Cc, Bcc string
	HeaderText                 string      // every field as "name: value\n"
	Headers                    [][2]string // name, value
	Body                       string      // decoded text of text/* parts
}

// Size is about how many bytes t holds.
func (t *Text) Size() int64 {
	n := len(t.Subject) + len(t.From) + len(t.To) + len(t.Cc) + len(t.Bcc) + len(t.HeaderText) + len(t.Body)
	for _, h := range t.Headers {
		n += len(h[0]) + len(h[1]) + 32
	}
	return int64(n) + 128
}

// Build parses a message for the search index. It never fails: what
// cannot be parsed is simply not indexed.
func Build(r io.Reader) *Text {
	br := bufio.NewReader(r)
	idx, h := header(br)
	var body strings.Builder
	w := &bodyWalker{out: &body}
	w.walk(h, br, 0)
	idx.Body = strings.ToLower(body.String())
	return idx
}

// Header is Build without the body: the header fields only, enough for
// ThreadKeys, and much cheaper for a large message.
func Header(r io.Reader) *Text {
	idx, _ := header(bufio.NewReader(r))
	return idx
}

func header(br *bufio.Reader) (*Text, textproto.Header) {
	idx := &Text{}
	h := readHeaderLenient(br)
	var ht strings.Builder
	for f := h.Fields(); f.Next(); {
		if len(idx.Headers) >= MaxHeaders {
			break
		}
		name := strings.ToLower(f.Key())
		value := strings.ToLower(decodeWords(f.Value()))
		idx.Headers = append(idx.Headers, [2]string{name, value})
		if ht.Len() < maxHeaderBytes {
			ht.WriteString(name)
			ht.WriteString(": ")
			ht.WriteString(value)
			ht.WriteString("\n")
		}
		switch name {
		case "subject":
			idx.Subject = join(idx.Subject, value)
		case "from":
			idx.From = join(idx.From, addressText(value, f.Value()))
		case "to":
			idx.To = join(idx.To, addressText(value, f.Value()))
		case "cc":
			idx.Cc = join(idx.Cc, addressText(value, f.Value()))
		case "bcc":
			idx.Bcc = join(idx.Bcc, addressText(value, f.Value()))
		}
	}
	idx.HeaderText = ht.String()
	return idx, h
}

// addressText is what SEARCH FROM/TO/CC/BCC match for one address
// header: its decoded text (lower case) and, when different, its parsed
// addresses in canonical form, so that an address written with comments
// or folding inside the addr-spec is found by its plain form.
func addressText(decoded, raw string) string {
	canon := strings.ToLower(strings.ToValidUTF8(msgtext.AddressSearchText(raw), "\uFFFD"))
	if canon == "" || canon == decoded {
		return decoded
	}
	return decoded + "\n" + canon
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}

// wordDecoder decodes RFC 2047 encoded words, using go-message's charset
// support for charsets beyond UTF-8, US-ASCII and ISO-8859-1.
var wordDecoder = mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	if message.CharsetReader != nil {
		return message.CharsetReader(charset, input)
	}
	return nil, fmt.Errorf("unknown charset %q", charset)
}}

func decodeWords(v string) string {
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		v = d
	}
	return strings.ToValidUTF8(v, "\uFFFD")
}

// readHeaderLenient reads an RFC 5322 header block, skipping malformed
// lines instead of failing, and leaves br at the start of the body.
func readHeaderLenient(br *bufio.Reader) textproto.Header {
	var h textproto.Header
	var lines []string
	total := 0
	for total < 4*maxHeaderBytes {
		line, err := readLine(br, maxLineBytes)
		total += len(line)
		trimmed := strings.TrimRight(line, "\r\n")
		if trimmed == "" {
			break
		}
		if (trimmed[0] == ' ' || trimmed[0] == '\t') && len(lines) > 0 {
			lines[len(lines)-1] += " " + strings.TrimLeft(trimmed, " \t")
		} else {
			lines = append(lines, trimmed)
		}
		if err != nil {
			break
		}
	}
	// Fields are added in reverse because Header.Add prepends.
	for i := len(lines) - 1; i >= 0; i-- {
		k, v, ok := strings.Cut(lines[i], ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		h.Add(k, strings.TrimSpace(v))
	}
	return h
}

// maxLineBytes caps one header line; the rest of a longer line is skipped.
const maxLineBytes = 64 << 10

// readLine reads one line including its "\n", keeping at most max bytes
// of it in memory and discarding the rest.
func readLine(br *bufio.Reader, max int) (string, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line) < max {
			n := min(len(chunk), max-len(line))
			line = append(line, chunk[:n]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return string(line), err
	}
}

// bodyWalker collects decoded text of text/* parts.
type bodyWalker struct {
	out   *strings.Builder
	parts int
}

func (w *bodyWalker) full() bool { return w.out.Len() >= MaxBodyBytes || w.parts >= maxParts }

func (w *bodyWalker) walk(h textproto.Header, body io.Reader, depth int) {
	// message.New decodes the transfer encoding and, where it can, the
	// charset; on an unknown one it still returns a usable entity.
	e, _ := message.New(message.Header{Header: h}, body)
	if e != nil {
		w.walkEntity(e, depth)
	}
}

func (w *bodyWalker) walkEntity(e *message.Entity, depth int) {
	if w.full() || depth > maxDepth {
		return
	}
	w.parts++
	mt, params, _ := e.Header.ContentType()
	if mt == "" {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" {
		mr := e.MultipartReader()
		if mr == nil {
			return
		}
		for !w.full() {
			// NextPart returns parts with their bodies already decoded.
			p, err := mr.NextPart()
			if p == nil {
				return
			}
			w.walkEntity(p, depth+1)
			if err != nil {
				return
			}
		}
		return
	}
	switch {
	case mt == "message/rfc822" || mt == "message/global":
		br := bufio.NewReader(io.LimitReader(e.Body, maxPartRead))
		inner := readHeaderLenient(br)
		for f := inner.Fields(); f.Next(); {
			w.add(f.Key() + ": " + decodeWords(f.Value()) + "\n")
		}
		w.walk(inner, br, depth+1)
	case strings.HasPrefix(mt, "text/"):
		data, _ := io.ReadAll(io.LimitReader(e.Body, maxPartRead))
		text := strings.ToValidUTF8(string(data), "\uFFFD")
		if mt == "text/html" {
			text = StripHTML(text)
		}
		w.add(text)
		w.add("\n")
	}
}

func (w *bodyWalker) add(s string) {
	room := MaxBodyBytes - w.out.Len()
	if room <= 0 {
		return
	}
	if len(s) > room {
		s = s[:room]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	w.out.WriteString(s)
}

// StripHTML reduces HTML to its text: tags, scripts and styles removed,
// entities decoded. It runs in time linear in len(s).
func StripHTML(s string) string {
	var b bytes.Buffer
	lower := asciiLower(s) // same length as s, so indexes line up
	for i := 0; i < len(s); {
		if s[i] != '<' {
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				j = len(s) - i
			}
			b.WriteString(s[i : i+j])
			i += j
			continue
		}
		for _, skip := range []string{"script", "style"} {
			if strings.HasPrefix(lower[i+1:], skip) {
				end := strings.Index(lower[i:], "</"+skip)
				if end < 0 {
					// Unclosed: the rest is script, not text.
					return html.UnescapeString(b.String())
				}
				i += end
				break
			}
		}
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			break
		}
		b.WriteByte(' ')
		i += end + 1
	}
	return html.UnescapeString(b.String())
}

// asciiLower lower-cases ASCII letters only, keeping byte offsets.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
