package smtpserver

import (
	"bufio"
	"bytes"
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
