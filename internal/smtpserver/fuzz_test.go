package smtpserver

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCommand fuzzes the command line parser: verb splitting, MAIL/RCPT
// paths and their parameters. It must never panic, and whatever it accepts
// must be well-formed and parse again to the same result.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"MAIL FROM:<a@example.com> SIZE=100 BODY=8BITMIME",
		"MAIL FROM:<> RET=HDRS ENVID=x+2By",
		"RCPT TO:<u@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;u+40example.com",
		"RCPT TO:<@a.example,@b.example:u@c.example>",
		`RCPT TO:<"quoted\"str"@example.com>`,
		"RCPT TO:<u%other@example.com>",
		"RCPT TO:<пользователь@пример.рф>",
		"RCPT TO:<u@[IPv6:::1]>",
		"MAIL FROM:<a@b> SMTPUTF8",
		"EHLO client.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		verb, arg := splitCommand(line)
		if strings.ContainsRune(verb, ' ') {
			t.Fatalf("verb %q contains a space", verb)
		}
		prefix := "FROM:"
		if verb == "RCPT" {
			prefix = "TO:"
		}
		p, params, err := parsePathArg(arg, prefix, verb != "RCPT")
		if err != nil {
			return
		}
		if p.Addr != "" {
			if len(p.Addr) > maxPath || !utf8.ValidString(p.Addr) || strings.ContainsAny(p.Addr, "<> \r\n\x00") && !strings.HasPrefix(p.Addr, `"`) {
				t.Fatalf("bad address %q from %q", p.Addr, arg)
			}
			i := strings.LastIndexByte(p.Addr, '@')
			if i <= 0 {
				t.Fatalf("address without local part or domain: %q", p.Addr)
			}
			// The canonical form must parse to itself.
			again, _, err := parsePathArg(prefix+"<"+p.Addr+">", prefix, false)
			if err != nil || again.Addr != p.Addr {
				t.Fatalf("canonical %q reparsed as %q (%v)", p.Addr, again.Addr, err)
			}
		}
		for _, pa := range params {
			if pa.Key == "" || strings.ContainsAny(pa.Key+pa.Value, " =\r\n") && strings.Contains(pa.Value, "=") {
				t.Fatalf("bad param %+v", pa)
			}
		}
		if verb == "RCPT" {
			parseRcptParams(params)
		} else {
			parseMailParams(params)
		}
	})
}

// FuzzData fuzzes the DATA reader: no panic; clean content survives dot
// stuffing and unstuffing unchanged; content with a bare CR or LF is
// always flagged.
func FuzzData(f *testing.F) {
	for _, s := range []string{
		"Subject: x\r\n\r\nbody\r\n.\r\n",
		"a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n",
		"a\r.\r\n.\r\n",
		"..dot\r\n.\r\n",
		"\r\n.\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		content, res, err := readData(bufio.NewReader(bytes.NewReader(in)), 1<<20, 1000)
		if err != nil || res.TooBig {
			return
		}
		bare := bytes.Count(content, []byte("\n")) != bytes.Count(content, []byte("\r\n")) ||
			bytes.Count(content, []byte("\r")) != bytes.Count(content, []byte("\r\n"))
		if bare && !res.BareEOL {
			t.Fatalf("bare CR/LF not flagged in %q", content)
		}
		if !res.ok() || (len(content) > 0 && !bytes.HasSuffix(content, []byte("\r\n"))) {
			return
		}
		var stuffed bytes.Buffer
		for _, line := range bytes.SplitAfter(content, []byte("\r\n")) {
			if bytes.HasPrefix(line, []byte(".")) {
				stuffed.WriteByte('.')
			}
			stuffed.Write(line)
		}
		stuffed.WriteString(".\r\n")
		again, res2, err := readData(bufio.NewReader(&stuffed), 1<<20, 1000)
		if err != nil || !res2.ok() || !bytes.Equal(again, content) {
			t.Fatalf("round trip of %q: %q %+v %v", content, again, res2, err)
		}
	})
}

// FuzzDataSame: readData's fast path (whole runs of a line copied at once)
// gives exactly what the plain byte-at-a-time state machine below gives,
// for every input, size limit and line limit.
func FuzzDataSame(f *testing.F) {
	for _, s := range []string{
		"a\r\n.\r\n", "..x\r\n.\r\n", "a\nb\r\n.\r\n", "a\rb\r\n.\r\n", "long line here\r\nx\r\n.\r\n",
		".\n.\r\n", "a\r\r\n.\r\n", "abc", "x\r\n.\rx\r\n.\r\n",
	} {
		f.Add([]byte(s), uint16(8), uint8(4), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, maxSize uint16, maxLine uint8, bufSize uint8) {
		// Small bufio sizes split lines across refills.
		size := 16 + int(bufSize)
		got, gres, gerr := readData(bufio.NewReaderSize(bytes.NewReader(in), size), int64(maxSize), int(maxLine))
		want, wres, werr := readDataBytewise(bufio.NewReaderSize(bytes.NewReader(in), size), int64(maxSize), int(maxLine))
		if !bytes.Equal(got, want) || gres != wres || (gerr == nil) != (werr == nil) {
			t.Fatalf("readData(%q, %d, %d) = %q %+v %v; byte-wise %q %+v %v", in, maxSize, maxLine, got, gres, gerr, want, wres, werr)
		}
	})
}

// readDataBytewise is readData without its fast path: the reference.
func readDataBytewise(br *bufio.Reader, maxSize int64, maxLine int) ([]byte, dataResult, error) {
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
