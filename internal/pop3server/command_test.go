package pop3server

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line string
		name string
		args []string
		rest string
		err  error
	}{
		{line: "CAPA", name: "CAPA", args: nil},
		{line: "list 2", name: "LIST", args: []string{"2"}, rest: "2"},
		{line: "Top 1  10 ", name: "TOP", args: []string{"1", "10"}, rest: "1  10 "},
		{line: "PASS my secret  pw", name: "PASS", rest: "my secret  pw"},
		{line: "USER a-very-long-user-name-for-testing@subdomain.example.org", name: "USER",
			args: []string{"a-very-long-user-name-for-testing@subdomain.example.org"},
			rest: "a-very-long-user-name-for-testing@subdomain.example.org"},
		{line: "AUTH PLAIN " + strings.Repeat("QUFB", 30), name: "AUTH",
			args: []string{"PLAIN", strings.Repeat("QUFB", 30)}, rest: "PLAIN " + strings.Repeat("QUFB", 30)},
		{line: "", err: errEmptyCommand},
		{line: "RETRIEVE 1", err: errBadKeyword},
		{line: "NO", err: errBadKeyword},
		{line: "RE1R 1", err: errBadKeyword},
		{line: " LIST", err: errBadKeyword},
		{line: "TOP 1 2 3", err: errTooManyArgs},
		{line: "LIST " + strings.Repeat("1", 41), err: errArgTooLong},
		{line: "USER a\x00b", err: errBadByte},
		{line: "PASS x\x7f", err: errBadByte},
	}
	for _, tt := range tests {
		cmd, err := parseCommand(tt.line)
		if err != tt.err {
			t.Errorf("parseCommand(%q) error = %v, want %v", tt.line, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if cmd.name != tt.name || cmd.rest != tt.rest || strings.Join(cmd.args, "|") != strings.Join(tt.args, "|") {
			t.Errorf("parseCommand(%q) = %+v, want name %q args %q rest %q", tt.line, cmd, tt.name, tt.args, tt.rest)
		}
	}
}

func TestParseNumber(t *testing.T) {
	good := map[string]int{"0": 0, "1": 1, "007": 7, "123456789": 123456789}
	for s, want := range good {
		if n, ok := parseNumber(s); !ok || n != want {
			t.Errorf("parseNumber(%q) = %d, %v; want %d", s, n, ok, want)
		}
	}
	for _, s := range []string{"", "-1", "+1", "1a", "1234567890", " 1", "0x10"} {
		if n, ok := parseNumber(s); ok {
			t.Errorf("parseNumber(%q) = %d, accepted", s, n)
		}
	}
}

func FuzzCommand(f *testing.F) {
	for _, s := range []string{"CAPA", "USER a@b", "PASS a b c", "TOP 1 0", "AUTH PLAIN =", "list 99999999999", "", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := parseCommand(line)
		if err != nil {
			return
		}
		if len(cmd.name) < 3 || len(cmd.name) > 4 || strings.ToUpper(cmd.name) != cmd.name {
			t.Fatalf("bad keyword %q from %q", cmd.name, line)
		}
		if len(cmd.args) > maxArgs {
			t.Fatalf("%d args from %q", len(cmd.args), line)
		}
		if strings.ContainsAny(cmd.rest, "\x00\r\n") {
			t.Fatalf("control characters passed through in %q", cmd.rest)
		}
		for _, a := range cmd.args {
			if a == "" || strings.ContainsAny(a, " \x00") {
				t.Fatalf("bad argument %q from %q", a, line)
			}
			if n, ok := parseNumber(a); ok && n < 0 {
				t.Fatalf("negative number %d from %q", n, a)
			}
		}
	})
}

// normalize is the reference for what RETR sends: every line ends in
// CRLF (one CR before LF is part of the line ending; a final line without
// LF gets CRLF, a lone CR at the very end becoming its CR).
func normalize(in []byte) []byte {
	var out []byte
	lines := bytes.SplitAfter(in, []byte("\n"))
	for _, l := range lines {
		if len(l) == 0 {
			continue
		}
		l = bytes.TrimSuffix(l, []byte("\n"))
		l = bytes.TrimSuffix(l, []byte("\r"))
		out = append(out, l...)
		out = append(out, '\r', '\n')
	}
	return out
}

// unstuff undoes byte-stuffing of a multi-line body (RFC 1939 §3).
func unstuff(t *testing.T, out []byte) []byte {
	t.Helper()
	var res []byte
	for _, l := range bytes.SplitAfter(out, []byte("\r\n")) {
		if len(l) == 0 {
			continue
		}
		if !bytes.HasSuffix(l, []byte("\r\n")) {
			t.Fatalf("output line %q does not end in CRLF", l)
		}
		if bytes.Equal(l, []byte(".\r\n")) {
			t.Fatalf("unstuffed terminator line in output %q", out)
		}
		if l[0] == '.' {
			if len(l) < 2 || l[1] != '.' {
				t.Fatalf("line %q starts with a single dot", l)
			}
			l = l[1:]
		}
		res = append(res, l...)
	}
	return res
}

func TestWriteMessage(t *testing.T) {
	in := "Subject: dots\n.Hidden: no\r\n\r\n.\r\n..two\nthree\r\nfour"
	var buf bytes.Buffer
	n, err := writeMessage(&buf, strings.NewReader(in), -1)
	if err != nil {
		t.Fatal(err)
	}
	want := "Subject: dots\r\n..Hidden: no\r\n\r\n..\r\n...two\r\nthree\r\nfour\r\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
	if n != int64(len(normalize([]byte(in)))) {
		t.Fatalf("size %d, want %d", n, len(normalize([]byte(in))))
	}
	for lines, want := range map[int]string{
		0: "Subject: dots\r\n..Hidden: no\r\n\r\n",
		2: "Subject: dots\r\n..Hidden: no\r\n\r\n..\r\n...two\r\n",
		9: "Subject: dots\r\n..Hidden: no\r\n\r\n..\r\n...two\r\nthree\r\nfour\r\n",
	} {
		buf.Reset()
		if _, err := writeMessage(&buf, strings.NewReader(in), lines); err != nil {
			t.Fatal(err)
		}
		if buf.String() != want {
			t.Errorf("TOP %d: got %q, want %q", lines, buf.String(), want)
		}
	}
}

func FuzzWriteMessage(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\n.body\r\n"), 1)
	f.Add([]byte("a\nb\r\r\nc\r"), -1)
	f.Fuzz(func(t *testing.T, in []byte, lines int) {
		if lines < -1 {
			lines = -1
		}
		for _, size := range []int{16, 32 << 10} {
			var buf bytes.Buffer
			n, err := writeMessageBuf(&buf, bytes.NewReader(in), -1, size)
			if err != nil {
				t.Fatal(err)
			}
			got := unstuff(t, buf.Bytes())
			if want := normalize(in); !bytes.Equal(got, want) {
				t.Fatalf("buffer %d: unstuffed output %q, want %q", size, got, want)
			}
			if n != int64(len(got)) {
				t.Fatalf("reported size %d, sent %d", n, len(got))
			}
			full := buf.Bytes()
			buf.Reset()
			if _, err := writeMessageBuf(&buf, bytes.NewReader(in), lines, size); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(full, buf.Bytes()) {
				t.Fatalf("TOP %d output %q is not a prefix of %q", lines, buf.Bytes(), full)
			}
		}
	})
}
