package imapserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync"
)

// Framing limits. A command is its lines plus the literals between them;
// only APPEND may carry a large literal (Limits.IMAPLiteralSize).
const (
	maxLineLength    = 64 << 10 // one line of a command
	maxSmallLiteral  = 64 << 10 // a literal outside APPEND
	maxCommandLength = 1 << 20  // a whole command, APPEND's message excluded
	maxLiterals      = 64       // literals in one command
)

var (
	errLineTooLong    = errors.New("command line too long")
	errCommandTooLong = errors.New("command too long")
)

// literalError reports a literal that is too large. For a synchronising
// literal the client is waiting for a continuation and will not send the
// data, so the session can refuse the command and go on; a non-synchronising
// literal is already on its way and the connection must be closed.
type literalError struct {
	tag    string
	append bool
	sync   bool
}

func (e *literalError) Error() string { return "literal too large" }

// bufSize is the size of a session's read and write buffers.
const bufSize = 4096

// newBufPools returns the pools of read and write buffers that sessions
// hold only while they have something to read or write.
func newBufPools() (readers, writers *sync.Pool) {
	readers = &sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writers = &sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
	return readers, writers
}

// wakeReader is a session's transport with at most one byte read ahead:
// a session waiting for its client reads one byte into b, holding no
// buffer, and only then takes a read buffer from the pool, which reads
// that byte first.
type wakeReader struct {
	r   io.Reader
	b   [1]byte
	has bool
}

// wait blocks until the client sends a byte (or the read fails, as at a
// deadline).
func (wr *wakeReader) wait() error {
	for !wr.has {
		n, err := wr.r.Read(wr.b[:])
		if n == 1 {
			wr.has = true
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (wr *wakeReader) Read(p []byte) (int, error) {
	if !wr.has || len(p) == 0 {
		return wr.r.Read(p)
	}
	p[0] = wr.b[0]
	wr.has = false
	return 1, nil
}

// commandReader frames commands from the client.
type commandReader struct {
	r         *bufio.Reader
	maxAppend int64
	// cont is called before a synchronising literal is read; it sends a
	// continuation request.
	cont func() error
}

// readLine reads one line (without its CRLF) of at most maxLineLength
// bytes. As soon as a line passes the limit errLineTooLong is returned,
// without waiting for its end: a client may send an endless line, and the
// session answers BYE and closes (as Dovecot does past
// imap_max_line_length).
func (cr *commandReader) readLine(dst []byte) ([]byte, error) {
	start := len(dst)
	for {
		chunk, err := cr.r.ReadSlice('\n')
		if len(dst)-start+len(chunk) > maxLineLength+2 {
			return dst[:start], errLineTooLong
		}
		dst = append(dst, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return dst, err
		}
		break
	}
	dst = dst[:len(dst)-1] // '\n'
	if len(dst) > start && dst[len(dst)-1] == '\r' {
		dst = dst[:len(dst)-1]
	}
	return dst, nil
}

// literalAt reports whether line ends with a literal announcement
// ("{12}", "{12+}" or "~{12}") and returns its size and kind.
func literalAt(line []byte) (n int64, nonSync bool, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false, false
	}
	digits := line[open+1 : len(line)-1]
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		nonSync = true
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return v, nonSync, true
}

// commandName returns the tag and the upper-cased command name of a first
// line (for "UID FETCH" the name is "FETCH"), for limits and error replies.
func commandName(line []byte) (tag, name string) {
	f := bytes.Fields(line)
	if len(f) == 0 {
		return "", ""
	}
	tag = string(f[0])
	if len(f) > 1 {
		name = string(bytes.ToUpper(f[1]))
		if name == "UID" && len(f) > 2 {
			name = string(bytes.ToUpper(f[2]))
		}
	}
	return tag, name
}

// read reads one whole command: its lines joined by CRLF with every literal
// kept in place ("{n}\r\n" followed by the n bytes), without the final CRLF.
func (cr *commandReader) read() ([]byte, error) {
	buf, err := cr.readLine(nil)
	if err != nil {
		return buf, err
	}
	tag, name := commandName(buf)
	isAppend := name == "APPEND"
	lineStart := 0
	for literals := 0; ; literals++ {
		n, nonSync, ok := literalAt(buf[lineStart:])
		if !ok {
			return buf, nil
		}
		limit := int64(maxSmallLiteral)
		if isAppend {
			limit = cr.maxAppend
		}
		if n > limit || literals >= maxLiterals || (!isAppend && int64(len(buf))+n > maxCommandLength) {
			return nil, &literalError{tag: tag, append: isAppend, sync: !nonSync}
		}
		if !nonSync {
			if err := cr.cont(); err != nil {
				return nil, err
			}
		}
		buf = append(buf, '\r', '\n')
		start := len(buf)
		buf = append(buf, make([]byte, n)...)
		if _, err := readFull(cr.r, buf[start:]); err != nil {
			return nil, err
		}
		lineStart = len(buf)
		more, err := cr.readLine(buf)
		if err != nil {
			if err == errLineTooLong {
				return nil, errCommandTooLong
			}
			return nil, err
		}
		buf = more
		if !isAppend && len(buf) > maxCommandLength {
			return nil, errCommandTooLong
		}
	}
}

func readFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
