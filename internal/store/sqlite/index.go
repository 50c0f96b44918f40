package sqlite

import (
	"bufio"
	"bytes"
	"context"
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
	"pochta/internal/store"
)

// Index limits: what is indexed of one message.
const (
	maxHeaderBytes = 256 << 10 // header text kept per message
	maxHeaders     = 1000      // header fields kept per message
	maxBodyBytes   = 1 << 20   // decoded body text kept per message
	maxParts       = 500       // MIME parts visited
	maxDepth       = 20        // MIME nesting followed
	maxPartRead    = 8 << 20   // bytes read from one part's decoded body
)

// index is the searchable text of one message, all lower case.
type index struct {
	subject, from, to, cc, bcc string
	headerText                 string
	headers                    [][2]string // name, value
	body                       string
}

// buildIndex parses a message for the search index. It never fails: what
// cannot be parsed is simply not indexed.
func buildIndex(r io.Reader) *index {
	idx := &index{}
	br := bufio.NewReader(r)
	h := readHeaderLenient(br)
	var ht strings.Builder
	for f := h.Fields(); f.Next(); {
		if len(idx.headers) >= maxHeaders {
			break
		}
		name := strings.ToLower(f.Key())
		value := strings.ToLower(decodeWords(f.Value()))
		idx.headers = append(idx.headers, [2]string{name, value})
		if ht.Len() < maxHeaderBytes {
			ht.WriteString(name)
			ht.WriteString(": ")
			ht.WriteString(value)
			ht.WriteString("\n")
		}
		switch name {
		case "subject":
			idx.subject = join(idx.subject, value)
		case "from":
			idx.from = join(idx.from, addressText(value, f.Value()))
		case "to":
			idx.to = join(idx.to, addressText(value, f.Value()))
		case "cc":
			idx.cc = join(idx.cc, addressText(value, f.Value()))
		case "bcc":
			idx.bcc = join(idx.bcc, addressText(value, f.Value()))
		}
	}
	idx.headerText = ht.String()
	var body strings.Builder
	w := &bodyWalker{out: &body}
	w.walk(h, br, 0)
	idx.body = strings.ToLower(body.String())
	return idx
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

func (w *bodyWalker) full() bool { return w.out.Len() >= maxBodyBytes || w.parts >= maxParts }

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
			text = stripHTML(text)
		}
		w.add(text)
		w.add("\n")
	}
}

func (w *bodyWalker) add(s string) {
	room := maxBodyBytes - w.out.Len()
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

// stripHTML reduces HTML to its text: tags, scripts and styles removed,
// entities decoded. It runs in time linear in len(s).
func stripHTML(s string) string {
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

// insertBlob records a new blob; its search index is added at the end of
// the batch.
func insertBlob(tx *wtx, e *effects, id, size, refs int64, idx *index) error {
	if _, err := tx.ExecContext(bg, "INSERT INTO blobs(id, size, refs) VALUES(?, ?, ?)", id, size, refs); err != nil {
		return err
	}
	e.index = append(e.index, pendingIndex{id, idx})
	return nil
}

// insertIndex adds a blob's search index.
func insertIndex(tx *wtx, id int64, idx *index) error {
	if _, err := tx.ExecContext(bg, "INSERT INTO search(rowid, subject, sender, recipient, cc, bcc, headers, body) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
		id, idx.subject, idx.from, idx.to, idx.cc, idx.bcc, idx.headerText, idx.body); err != nil {
		return err
	}
	for _, hv := range idx.headers {
		if _, err := tx.ExecContext(bg, "INSERT INTO headers(blob_id, name, value) VALUES(?, ?, ?)", id, hv[0], hv[1]); err != nil {
			return err
		}
	}
	return nil
}

// searchColumns maps a field to the columns of the search table.
var searchColumns = map[store.SearchField][]string{
	store.SearchSubject: {"subject"},
	store.SearchFrom:    {"sender"},
	store.SearchTo:      {"recipient"},
	store.SearchCc:      {"cc"},
	store.SearchBcc:     {"bcc"},
	store.SearchBody:    {"body"},
	store.SearchText:    {"headers", "body"},
}

// Search implements store.Mailstore. Needles of three or more characters
// use the FTS5 trigram index; shorter ones scan the mailbox's stored text.
func (s *Store) Search(ctx context.Context, mailboxID int64, field store.SearchField, value string) ([]uint32, error) {
	if _, err := mailboxByID(ctx, s.rdb, mailboxID); err != nil {
		return nil, dbErr(err)
	}
	needle := strings.ToLower(value)
	var q string
	var args []any
	if name, ok := strings.CutPrefix(string(field), string(store.SearchHeader)); ok {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			return nil, fmt.Errorf("%w: empty header name", store.ErrInvalidName)
		}
		q = `SELECT uid FROM messages m WHERE mailbox_id = ? AND EXISTS
			(SELECT 1 FROM headers h WHERE h.blob_id = m.blob_id AND h.name = ? AND instr(h.value, ?) > 0) ORDER BY uid`
		args = []any{mailboxID, name, needle}
	} else {
		cols, ok := searchColumns[field]
		if !ok {
			return nil, fmt.Errorf("%w: unknown search field %q", store.ErrInvalidName, truncate(string(field)))
		}
		switch {
		case needle == "":
			q = "SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid"
			args = []any{mailboxID}
		case utf8.RuneCountInString(needle) >= 3:
			match := "{" + strings.Join(cols, " ") + "} : \"" + strings.ReplaceAll(needle, `"`, `""`) + "\""
			q = "SELECT uid FROM messages WHERE mailbox_id = ? AND blob_id IN (SELECT rowid FROM search WHERE search MATCH ?) ORDER BY uid"
			args = []any{mailboxID, match}
		default:
			conds := make([]string, len(cols))
			args = []any{mailboxID}
			for i, c := range cols {
				conds[i] = "instr(s." + c + ", ?) > 0"
				args = append(args, needle)
			}
			q = "SELECT m.uid FROM messages m JOIN search s ON s.rowid = m.blob_id WHERE m.mailbox_id = ? AND (" + strings.Join(conds, " OR ") + ") ORDER BY m.uid"
		}
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(err)
	}
	return scanUIDs(rows)
}
