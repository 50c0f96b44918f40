package smtpserver

import (
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
