package smtpserver

import (
	"bufio"
	"io"
)

// dataResult says what was wrong with message content, if anything. The
// content is always read to its end, so the session stays in sync with
// the client and can answer with a precise reply.
type dataResult struct {
	BareEOL  bool // a CR or LF not part of a CRLF pair (RFC 5321 §2.3.8)
	LongLine bool // a line longer than the limit
	TooBig   bool // more content than the size limit
}

func (r dataResult) ok() bool { return !r.BareEOL && !r.LongLine && !r.TooBig }

// readData reads DATA content up to the end-of-data marker and removes dot
// stuffing (RFC 5321 §4.5.2). Only CRLF "." CRLF ends the data: a "."
// line after a bare LF does not, so a message smuggled behind a bare LF
// (CVE-2023-51766) stays inside the first message — which is then refused
// for its bare LF. At most maxSize bytes are kept; the rest is read and
// discarded.
func readData(br *bufio.Reader, maxSize int64, maxLine int) ([]byte, dataResult, error) {
	const (
		bol       = iota // beginning of a line that followed CRLF
		bolBare          // beginning of a line that followed a bare LF
		dot              // "." at the beginning of a line
		dotBare          // "." at the beginning of a line after a bare LF
		dotCR            // ".\r" at the beginning of a line
		dotCRBare        // ".\r" after a bare LF
		inLine           // inside a line
		cr               // "\r" inside a line
	)
	var res dataResult
	var buf []byte
	lineLen := 0
	emit := func(bs ...byte) {
		for _, b := range bs {
			if int64(len(buf)) >= maxSize {
				res.TooBig = true
				return
			}
			buf = append(buf, b)
		}
	}
	state := bol
	for {
		if state == inLine {
			// The common case: copy the rest of the line that is already
			// buffered in one go (a byte at a time was a third of the
			// session's CPU with 100 KiB messages).
			if n := br.Buffered(); n > 0 {
				p, _ := br.Peek(n)
				i := 0
				for i < len(p) && p[i] != '\r' && p[i] != '\n' {
					i++
				}
				if i > 0 {
					if lineLen += i; lineLen > maxLine {
						res.LongLine = true
					}
					if room := maxSize - int64(len(buf)); int64(i) > room {
						buf = append(buf, p[:room]...)
						res.TooBig = true
					} else {
						buf = append(buf, p[:i]...)
					}
					br.Discard(i)
					continue
				}
			}
		}
		c, err := br.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, res, err
		}
		if c != '\r' && c != '\n' {
			lineLen++
			if lineLen > maxLine {
				res.LongLine = true
			}
		}
	again:
		switch state {
		case bol, bolBare:
			switch c {
			case '.':
				if state == bol {
					state = dot
				} else {
					state = dotBare
				}
				lineLen-- // the stuffed dot is not content
			case '\r':
				state = cr
			case '\n':
				res.BareEOL = true
				emit('\n')
				lineLen = 0
				state = bolBare
			default:
				emit(c)
				state = inLine
			}
		case dot, dotBare:
			if c == '\r' {
				if state == dot {
					state = dotCR
				} else {
					state = dotCRBare
				}
				continue
			}
			state = inLine
			goto again
		case dotCR, dotCRBare:
			if c == '\n' && state == dotCR {
				if res.TooBig {
					buf = nil
				}
				return buf, res, nil
			}
			state = cr
			goto again
		case inLine:
			switch c {
			case '\r':
				state = cr
			case '\n':
				res.BareEOL = true
				emit('\n')
				lineLen = 0
				state = bolBare
			default:
				emit(c)
			}
		case cr:
			switch c {
			case '\n':
				emit('\r', '\n')
				lineLen = 0
				state = bol
			case '\r':
				res.BareEOL = true
				emit('\r')
			default:
				res.BareEOL = true
				emit('\r', c)
				state = inLine
			}
		}
	}
}

// lineChecker checks BDAT chunks (RFC 3030), which carry no dot stuffing,
// for bare CR/LF and long lines. A CR at the end of one chunk may pair with
// an LF at the start of the next.
type lineChecker struct {
	res       dataResult
	pendingCR bool
	lineLen   int
	maxLine   int
}

func (l *lineChecker) Write(p []byte) (int, error) {
	for _, c := range p {
		if l.pendingCR {
			l.pendingCR = false
			if c == '\n' {
				l.lineLen = 0
				continue
			}
			l.res.BareEOL = true
		}
		switch c {
		case '\r':
			l.pendingCR = true
		case '\n':
			l.res.BareEOL = true
			l.lineLen = 0
		default:
			l.lineLen++
			if l.lineLen > l.maxLine {
				l.res.LongLine = true
			}
		}
	}
	return len(p), nil
}

// finish is called after the LAST chunk.
func (l *lineChecker) finish() dataResult {
	if l.pendingCR {
		l.res.BareEOL = true
	}
	return l.res
}
