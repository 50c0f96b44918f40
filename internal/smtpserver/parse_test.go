package smtpserver

import (
	"bufio"
	"strings"
	"testing"
)

func TestParsePathArg(t *testing.T) {
	tests := []struct {
		arg, prefix string
		null        bool
		want        string
		nonASCII    bool
		nparams     int
		bad         bool
	}{
		{arg: "FROM:<a@example.com>", prefix: "FROM:", want: "a@example.com"},
		{arg: "from: <a@Example.COM> SIZE=10 BODY=8BITMIME", prefix: "FROM:", want: "a@example.com", nparams: 2},
		{arg: "FROM:<>", prefix: "FROM:", null: true, want: ""},
		{arg: "TO:<>", prefix: "TO:", bad: true},
		{arg: "TO:<@relay.example,@x.example:u@other.example>", prefix: "TO:", want: "u@other.example"},
		{arg: "TO:<@[IPv6:::1]:u@other.example>", prefix: "TO:", want: "u@other.example"},
		{arg: `TO:<"john"@example.com>`, prefix: "TO:", want: "john@example.com"},
		{arg: `TO:<"u@other"@example.com>`, prefix: "TO:", want: `"u@other"@example.com`},
		{arg: `TO:<"a b\"c"@example.com>`, prefix: "TO:", want: `"a b\"c"@example.com`},
		{arg: "TO:<u%other@example.com>", prefix: "TO:", want: "u%other@example.com"},
		{arg: "TO:<other!u@example.com>", prefix: "TO:", want: "other!u@example.com"},
		{arg: "TO:<u@[127.0.0.1]>", prefix: "TO:", want: "u@[127.0.0.1]"},
		{arg: "TO:<u@[IPv6:::1]>", prefix: "TO:", want: "u@[IPv6:::1]"},
		{arg: "TO:<пользователь@пример.рф>", prefix: "TO:", want: "пользователь@xn--e1afmkfd.xn--p1ai", nonASCII: true},
		{arg: "TO:u@example.com", prefix: "TO:", bad: true},
		{arg: "TO:<u@example.com", prefix: "TO:", bad: true},
		{arg: "TO:<u@@example.com>", prefix: "TO:", bad: true},
		{arg: "TO:<.u@example.com>", prefix: "TO:", bad: true},
		{arg: "TO:<u..v@example.com>", prefix: "TO:", bad: true},
		{arg: "TO:<u@-example.com>", prefix: "TO:", bad: true},
		{arg: "TO:<u@exa_mple.com>", prefix: "TO:", bad: true},
		{arg: "TO:<u@[300.1.1.1]>", prefix: "TO:", bad: true},
		{arg: "TO:<u@example.com>x", prefix: "TO:", bad: true},
		{arg: "TO:<u@example.com> A=1 a=2", prefix: "TO:", bad: true},
		{arg: "TO:<" + strings.Repeat("a", 65) + "@example.com>", prefix: "TO:", bad: true},
		{arg: "TO:<u@" + strings.Repeat("a.", 130) + "com>", prefix: "TO:", bad: true},
		{arg: "TO:<\xff@example.com>", prefix: "TO:", bad: true},
		{arg: "FROM<a@b.c>", prefix: "FROM:", bad: true},
	}
	for _, tt := range tests {
		p, params, err := parsePathArg(tt.arg, tt.prefix, tt.null)
		if tt.bad {
			if err == nil {
				t.Errorf("%q: parsed as %q, want error", tt.arg, p.Addr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.arg, err)
			continue
		}
		if p.Addr != tt.want || p.NonASCII != tt.nonASCII || len(params) != tt.nparams {
			t.Errorf("%q: got %q nonASCII=%v params=%d, want %q %v %d", tt.arg, p.Addr, p.NonASCII, len(params), tt.want, tt.nonASCII, tt.nparams)
		}
	}
}

func TestRelayTrick(t *testing.T) {
	for addr, want := range map[string]bool{
		"u@example.com":               false,
		"u+tag@example.com":           false,
		"u%other.example@example.com": true,
		"other!u@example.com":         true,
		`"u@other"@example.com`:       true,
		"noat":                        true,
	} {
		if got := relayTrick(addr); got != want {
			t.Errorf("relayTrick(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestParseParams(t *testing.T) {
	params, err := parseParams(" SIZE=100 BODY=8BITMIME SMTPUTF8 RET=hdrs ENVID=abc+2Bdef")
	if err != nil {
		t.Fatal(err)
	}
	mp, err := parseMailParams(params)
	if err != nil {
		t.Fatal(err)
	}
	if mp.Size != 100 || !mp.EightBit || !mp.SMTPUTF8 || mp.Ret != "HDRS" || mp.EnvID != "abc+def" {
		t.Errorf("got %+v", mp)
	}
	for _, bad := range []string{" SIZE=x", " SIZE", " BODY=BINARYMIME", " RET=ALL", " ENVID=a+2g", " ENVID=" + strings.Repeat("a", 101), " FOO=1", " SMTPUTF8=yes"} {
		params, err := parseParams(bad)
		if err == nil {
			_, err = parseMailParams(params)
		}
		if err == nil {
			t.Errorf("MAIL params %q accepted", bad)
		}
	}
	params, err = parseParams(" NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u+40example.com")
	if err != nil {
		t.Fatal(err)
	}
	rp, err := parseRcptParams(params)
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.Notify) != 2 || rp.ORcpt != "rfc822;u@example.com" {
		t.Errorf("got %+v", rp)
	}
	for _, bad := range []string{" NOTIFY=NEVER,SUCCESS", " NOTIFY=SOMETIMES", " NOTIFY=DELAY,DELAY", " ORCPT=rfc822", " ORCPT=;x", " ORCPT=rfc822;a b", " X=1"} {
		params, err := parseParams(bad)
		if err == nil {
			_, err = parseRcptParams(params)
		}
		if err == nil {
			t.Errorf("RCPT params %q accepted", bad)
		}
	}
}

func TestReadData(t *testing.T) {
	tests := []struct {
		in   string
		want string
		res  dataResult
		rest string
	}{
		{in: "a\r\nb\r\n.\r\nNEXT", want: "a\r\nb\r\n", rest: "NEXT"},
		{in: ".\r\n", want: ""},
		{in: "..dot\r\n.\r\n", want: ".dot\r\n"},
		// Smuggling: "\n.\r\n" is not the end; the content is refused.
		{in: "a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n", want: "a\n\r\nMAIL FROM:<x@y>\r\n", res: dataResult{BareEOL: true}},
		{in: "a\r\n.\nb\r\n.\r\n", want: "a\r\n\nb\r\n", res: dataResult{BareEOL: true}},
		{in: "a\rb\r\n.\r\n", want: "a\rb\r\n", res: dataResult{BareEOL: true}},
		{in: "a\r\n.\r.\r\n.\r\n", res: dataResult{BareEOL: true}},
		{in: "01234567890123456789\r\n.\r\n", res: dataResult{LongLine: true}},
		{in: "0123456789abc\r\n0123456789abc\r\n0123456789abc\r\n.\r\n", res: dataResult{TooBig: true}},
	}
	for _, tt := range tests {
		br := bufio.NewReader(strings.NewReader(tt.in))
		got, res, err := readData(br, 40, 16)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if res != tt.res || (res.ok() && string(got) != tt.want) {
			t.Errorf("%q: got %q %+v, want %q %+v", tt.in, got, res, tt.want, tt.res)
		}
		rest, _ := br.ReadString(0)
		if rest != tt.rest {
			t.Errorf("%q: rest %q, want %q", tt.in, rest, tt.rest)
		}
	}
	if _, _, err := readData(bufio.NewReader(strings.NewReader("a\r\n")), 10, 8); err == nil {
		t.Error("unterminated data accepted")
	}
}

func TestLineChecker(t *testing.T) {
	for _, tt := range []struct {
		chunks []string
		res    dataResult
	}{
		{[]string{"a\r", "\nb\r\n"}, dataResult{}},
		{[]string{"a\n"}, dataResult{BareEOL: true}},
		{[]string{"a\r", "b"}, dataResult{BareEOL: true}},
		{[]string{"a\r"}, dataResult{BareEOL: true}},
		{[]string{"0123", "456789\r\n"}, dataResult{LongLine: true}},
	} {
		l := lineChecker{maxLine: 8}
		for _, c := range tt.chunks {
			l.Write([]byte(c))
		}
		if got := l.finish(); got != tt.res {
			t.Errorf("%q: got %+v, want %+v", tt.chunks, got, tt.res)
		}
	}
}

func TestHeaders(t *testing.T) {
	msg := []byte("From: A <a@example.com>,\r\n b@example.com\r\nSubject: x\r\n\r\nFrom: body@example.com\r\n")
	got := headerValues(msg, "from")
	if len(got) != 1 || got[0] != "A <a@example.com>, b@example.com" {
		t.Errorf("headerValues = %q", got)
	}
	if !hasHeader(msg, "SUBJECT") || hasHeader(msg, "Date") {
		t.Error("hasHeader wrong")
	}
}
