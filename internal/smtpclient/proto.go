package smtpclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"pochta/internal/reply"
)

// Limits on what a remote server may send us.
const (
	maxReplyLine  = 2048 // bytes per reply line (RFC 5321 §4.5.3.1.5 says 512; be lenient)
	maxReplyLines = 128  // lines in one multi-line reply (EHLO lists)
	maxReplyText  = 1000 // bytes of reply text kept for bounces
	chunkSize     = 1 << 20
)

// errProtocol marks a malformed reply from the server.
var errProtocol = errors.New("smtp protocol error")

// Reply is one parsed SMTP reply (RFC 5321 §4.2).
type Reply struct {
	Code     int
	Enhanced string   // RFC 3463 code from the first line, "" if none
	Lines    []string // text of each line, enhanced code removed
}

// Text joins the lines, sanitised and bounded, for quoting in a bounce.
func (r *Reply) Text() string {
	var b strings.Builder
	for i, l := range r.Lines {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(l)
	}
	return sanitize(b.String(), maxReplyText)
}

// Err turns a 4xx/5xx reply into a *reply.Error. When the server gave no
// enhanced code, the class default (RFC 3463 §3.1: X.0.0) is used so that
// a DSN always has a status.
func (r *Reply) Err() *reply.Error {
	enh := r.Enhanced
	if enh == "" {
		enh = fmt.Sprintf("%d.0.0", r.Code/100)
	}
	return &reply.Error{Code: r.Code, Enhanced: enh, Text: r.Text()}
}

// sanitize keeps printable text only (no control characters, valid UTF-8)
// and cuts it to at most n bytes.
func sanitize(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// readLine reads one line ending in LF (CR optional) of at most
// maxReplyLine bytes.
func readLine(r *bufio.Reader) (string, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > maxReplyLine {
			return "", fmt.Errorf("%w: reply line too long", errProtocol)
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}

// ReadReply reads one possibly multi-line reply: "ddd-text" lines followed
// by a "ddd text" (or bare "ddd") line with the same code.
func ReadReply(r *bufio.Reader) (*Reply, error) {
	rep := &Reply{}
	for i := 0; ; i++ {
		if i >= maxReplyLines {
			return nil, fmt.Errorf("%w: reply has too many lines", errProtocol)
		}
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		if len(line) < 3 {
			return nil, fmt.Errorf("%w: short reply line", errProtocol)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' {
			return nil, fmt.Errorf("%w: bad reply code", errProtocol)
		}
		if i == 0 {
			rep.Code = code
		} else if code != rep.Code {
			return nil, fmt.Errorf("%w: reply code changed inside a multi-line reply", errProtocol)
		}
		last := true
		text := ""
		if len(line) > 3 {
			switch line[3] {
			case '-':
				last = false
			case ' ':
			default:
				return nil, fmt.Errorf("%w: bad reply separator", errProtocol)
			}
			text = line[4:]
		}
		// RFC 2034 §4: the enhanced code starts the text, on every line.
		if enh, rest, ok := cutEnhanced(text, code); ok {
			if i == 0 {
				rep.Enhanced = enh
			}
			text = rest
		}
		rep.Lines = append(rep.Lines, text)
		if last {
			return rep, nil
		}
	}
}

// cutEnhanced splits "5.1.1 text" into "5.1.1" and "text" if the text
// starts with an enhanced status code whose class agrees with the reply
// code (RFC 3463 §2: class "." subject "." detail, 1-3 digits each).
func cutEnhanced(text string, code int) (enh, rest string, ok bool) {
	word, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(word, ".")
	if len(parts) != 3 || parts[0] != strconv.Itoa(code/100) || code/100 == 3 {
		return "", text, false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 {
			return "", text, false
		}
		for _, c := range []byte(p) {
			if c < '0' || c > '9' {
				return "", text, false
			}
		}
	}
	return word, rest, true
}

// conn is one SMTP session with a server.
type conn struct {
	nc      net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	timeout time.Duration // per command
	host    string        // server name for TLS and logs
	ext     map[string]string
	tls     bool
	sent    int // messages carried (reuse.go)
}

func newConn(nc net.Conn, host string, timeout time.Duration, isTLS bool) *conn {
	c := &conn{nc: nc, host: host, timeout: timeout, tls: isTLS}
	c.r = bufio.NewReaderSize(nc, 4096)
	c.w = bufio.NewWriterSize(&deadlineWriter{nc: nc, timeout: timeout}, 32*1024)
	return c
}

// deadlineWriter refreshes the write deadline before each write, so a
// large DATA transfer gets a timeout per block rather than in total
// (RFC 5321 §4.5.3.2.5).
type deadlineWriter struct {
	nc      net.Conn
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.nc.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.nc.Write(p)
}

func (c *conn) close() { c.nc.Close() }

// read reads one reply, waiting at most d.
func (c *conn) read(d time.Duration) (*Reply, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	return ReadReply(c.r)
}

// send writes lines (without CRLF) and flushes them in one go, which is
// how commands are pipelined (RFC 2920).
func (c *conn) send(lines ...string) error {
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			return fmt.Errorf("%w: CR or LF in command", errProtocol)
		}
		c.w.WriteString(l)
		c.w.WriteString("\r\n")
	}
	return c.w.Flush()
}

// cmd sends one command and reads its reply.
func (c *conn) cmd(line string) (*Reply, error) {
	if err := c.send(line); err != nil {
		return nil, err
	}
	return c.read(c.timeout)
}

// greet reads the 220 greeting.
func (c *conn) greet() (*Reply, error) { return c.read(c.timeout) }

// ehlo sends EHLO and records the extensions; it falls back to HELO when
// the server does not know EHLO (RFC 5321 §3.2).
func (c *conn) ehlo(name string) (*Reply, error) {
	rep, err := c.cmd("EHLO " + name)
	if err != nil {
		return nil, err
	}
	c.ext = map[string]string{}
	if rep.Code == 500 || rep.Code == 502 {
		return c.cmd("HELO " + name)
	}
	if rep.Code == 250 {
		for _, l := range rep.Lines[1:] {
			kw, param, _ := strings.Cut(strings.TrimSpace(l), " ")
			c.ext[strings.ToUpper(kw)] = param
		}
	}
	return rep, nil
}

func (c *conn) has(ext string) bool {
	_, ok := c.ext[ext]
	return ok
}

// maxSize returns the SIZE limit the server announced (RFC 1870), 0 if none.
func (c *conn) maxSize() int64 {
	n, err := strconv.ParseInt(c.ext["SIZE"], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// startTLS runs STARTTLS (RFC 3207). The returned reply is non-nil when
// the server refused the command; then the plain session is still usable.
func (c *conn) startTLS(ctx context.Context, cfg *tls.Config) (*Reply, error) {
	rep, err := c.cmd("STARTTLS")
	if err != nil {
		return nil, err
	}
	if rep.Code != 220 {
		return rep, nil
	}
	// Anything the server sent after the 220 was sent in the clear and
	// must not be trusted as part of the TLS session (RFC 3207 §4.2).
	if c.r.Buffered() > 0 {
		return nil, fmt.Errorf("%w: data after STARTTLS reply", errProtocol)
	}
	tc := tls.Client(c.nc, cfg)
	c.nc.SetDeadline(time.Now().Add(c.timeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, &tlsError{err}
	}
	c.nc.SetDeadline(time.Time{})
	nc := newConn(tc, c.host, c.timeout, true)
	*c = *nc
	return nil, nil
}

// tlsError marks a failed TLS handshake.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// authPlain authenticates with SASL PLAIN (RFC 4616) using an initial
// response (RFC 4954 §4). The credentials are never logged.
func (c *conn) authPlain(user, pass string) (*Reply, error) {
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	rep, err := c.cmd("AUTH PLAIN " + ir)
	if err != nil {
		return nil, err
	}
	if rep.Code == 334 {
		// The server wants another round; PLAIN has none. Cancel.
		return c.cmd("*")
	}
	return rep, nil
}

// writeData sends content after a 354 reply with dot-stuffing
// (RFC 5321 §4.5.2) and the terminating ".".
func (c *conn) writeData(content []byte) error {
	for len(content) > 0 {
		i := bytes.IndexByte(content, '\n')
		var line []byte
		if i < 0 {
			line, content = content, nil
		} else {
			line, content = content[:i+1], content[i+1:]
		}
		if len(line) > 0 && line[0] == '.' {
			c.w.WriteByte('.')
		}
		c.w.Write(line)
	}
	c.w.WriteString(".\r\n")
	return c.w.Flush()
}

// xtext encodes s as RFC 3461 §4 xtext.
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= '!' && ch <= '~' && ch != '+' && ch != '=' {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "+%02X", ch)
		}
	}
	return b.String()
}

// utf8AddrXtext encodes s as RFC 6533 §3 utf-8-addr-xtext: xtext for
// ASCII, \x{HEX} for other code points.
func utf8AddrXtext(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '!' && r <= '~' && r != '+' && r != '=' && r != '\\':
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&b, "+%02X", r)
		default:
			fmt.Fprintf(&b, `\x{%X}`, r)
		}
	}
	return b.String()
}
