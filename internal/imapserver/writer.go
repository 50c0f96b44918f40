package imapserver

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"strconv"
	"strings"
)

// writer writes responses (RFC 9051 §7). Errors are sticky: once a write
// fails every later write is dropped and flush reports the error.
type writer struct {
	bw *bufio.Writer
	fl *flate.Writer // non-nil after COMPRESS=DEFLATE
	// With compression, deflate output collects in zbuf and goes to zout
	// in one write per flush: some clients (mbsync) mishandle a flush
	// split across TCP segments.
	zbuf  *bytes.Buffer
	zout  io.Writer
	dirty bool // written to since the last flush
	err   error
}

// newDeflateWriter returns a writer that compresses onto w (RFC 4978).
func newDeflateWriter(w io.Writer) *writer {
	zbuf := &bytes.Buffer{}
	fl, _ := flate.NewWriter(zbuf, 5)
	return &writer{bw: bufio.NewWriterSize(fl, 4096), fl: fl, zbuf: zbuf, zout: w}
}

func newWriter(w io.Writer) *writer { return &writer{bw: bufio.NewWriterSize(w, 4096)} }

func (w *writer) str(s string) {
	w.dirty = true
	if w.err == nil {
		_, w.err = w.bw.WriteString(s)
	}
}

func (w *writer) bytes(b []byte) {
	w.dirty = true
	if w.err == nil {
		_, w.err = w.bw.Write(b)
	}
}

// untagged writes "* " + s + CRLF.
func (w *writer) untagged(s string) {
	w.str("* ")
	w.str(s)
	w.str("\r\n")
}

// tagged writes a command completion.
func (w *writer) tagged(tag, status, text string) {
	w.str(tag)
	w.str(" ")
	w.str(status)
	w.str(" ")
	w.str(text)
	w.str("\r\n")
}

func (w *writer) flush() error {
	if !w.dirty {
		// Nothing to send; an empty deflate flush would still emit a
		// sync marker, which must not follow COMPRESS's OK unasked.
		return w.err
	}
	w.dirty = false
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	if w.err == nil && w.fl != nil {
		w.err = w.fl.Flush()
		if w.err == nil {
			_, w.err = w.zout.Write(w.zbuf.Bytes())
		}
		w.zbuf.Reset()
	}
	return w.err
}

// quote renders s as an IMAP string: quoted when it can be, a literal
// otherwise (CR, LF, NUL, 8-bit data for a client that has not enabled
// UTF-8, or very long values).
func quote(s string, utf8ok bool) string {
	lit := len(s) > 1000
	for i := 0; i < len(s) && !lit; i++ {
		c := s[i]
		if c == '\r' || c == '\n' || c == 0 || (c >= 0x80 && !utf8ok) {
			lit = true
		}
	}
	if lit {
		return "{" + strconv.Itoa(len(s)) + "}\r\n" + s
	}
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`
	}
	var sb strings.Builder
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			sb.WriteByte('\\')
		}
		sb.WriteByte(s[i])
	}
	sb.WriteByte('"')
	return sb.String()
}

// literalBytes writes b as a literal ("~{n}" literal8 when binary).
func (w *writer) literal(b []byte, binary bool) {
	if binary {
		w.str("~")
	}
	w.str("{")
	w.str(strconv.Itoa(len(b)))
	w.str("}\r\n")
	w.bytes(b)
}
