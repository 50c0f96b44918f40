package imapserver

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"strconv"
	"strings"
	"sync"
)

// writer writes responses (RFC 9051 §7). Errors are sticky: once a write
// fails every later write is dropped and flush reports the error.
//
// Without compression the writer holds its buffer only from the first
// write to the flush: between commands (and in IDLE) the buffer is back in
// the server's pool, so that an idle connection costs no write buffer.
type writer struct {
	bw   *bufio.Writer // nil between a flush and the next write (with pool)
	dst  io.Writer
	pool *sync.Pool    // of *bufio.Writer; nil keeps bw for good
	fl   *flate.Writer // non-nil after COMPRESS=DEFLATE
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
	return &writer{bw: bufio.NewWriterSize(fl, bufSize), fl: fl, zbuf: zbuf, zout: w}
}

// newWriter returns a writer onto w that takes its buffer from pool when
// it has something to say.
func newWriter(w io.Writer, pool *sync.Pool) *writer { return &writer{dst: w, pool: pool} }

// buf returns the buffer, taking one from the pool if needed.
func (w *writer) buf() *bufio.Writer {
	if w.bw == nil {
		w.bw = w.pool.Get().(*bufio.Writer)
		w.bw.Reset(w.dst)
	}
	return w.bw
}

func (w *writer) str(s string) {
	w.dirty = true
	if w.err == nil {
		_, w.err = w.buf().WriteString(s)
	}
}

func (w *writer) bytes(b []byte) {
	w.dirty = true
	if w.err == nil {
		_, w.err = w.buf().Write(b)
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
	if w.err == nil && w.bw != nil {
		w.err = w.bw.Flush()
	}
	if w.pool != nil && w.bw != nil {
		// Empty after a successful flush; after a failed one the
		// session ends and what is left is dropped.
		w.bw.Reset(nil)
		w.pool.Put(w.bw)
		w.bw = nil
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
