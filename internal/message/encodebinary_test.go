package message

import (
	"bytes"
	"strings"
	"testing"
)

// Binary leaves are stored base64-encoded: BODY[] carries no NUL, BINARY[]
// gives back the original octets, other parts and text stay byte for byte.
func TestEncodeBinaryParts(t *testing.T) {
	payload := []byte("\x00-\xe4\r\n\r\n")
	long := bytes.Repeat([]byte{0, 1, 2, 0xff, '\n', '\r'}, 40)
	single := "From: user@domain.org\r\nMime-Version: 1.0\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Transfer-Encoding: binary\r\n\r\n" + string(payload)
	multi := "From: a@b.org\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\npreamble\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: BINARY (raw)\r\n\r\n" + string(long) + "\r\n" +
		"--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Transfer-Encoding: binary\r\n\r\n" + string(payload) + "\r\n" +
		"--XX--\r\nepilogue\r\n"
	for _, tc := range []struct {
		name   string
		raw    string
		binary map[string][]byte // part path -> original content
		keep   map[string]string // part path -> unchanged BODY[] text
	}{
		{"single", single, map[string][]byte{"1": payload}, nil},
		{"multipart", multi, map[string][]byte{"2": long, "3.1": payload}, map[string]string{"1": "hello"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := EncodeBinaryParts([]byte(tc.raw))
			if bytes.IndexByte(out, 0) >= 0 {
				t.Fatalf("NUL left in %q", out)
			}
			for _, l := range strings.Split(string(out), "\r\n") {
				if len(l) > 998 {
					t.Fatalf("line of %d octets", len(l))
				}
			}
			m := Parse(out)
			bs := m.BodyStructureFormat(true, false)
			if strings.Contains(bs, `"BINARY"`) || !strings.Contains(bs, `"BASE64"`) {
				t.Fatalf("BODYSTRUCTURE %s", bs)
			}
			for path, want := range tc.binary {
				got, ok, err := m.Binary(partPath(t, path))
				if err != nil || !ok || !bytes.Equal(got, want) {
					t.Errorf("BINARY[%s] = %q %v %v, want %q", path, got, ok, err, want)
				}
			}
			for path, want := range tc.keep {
				got, _ := m.Section(Section{Part: partPath(t, path)})
				if string(got) != want {
					t.Errorf("BODY[%s] = %q, want %q", path, got, want)
				}
			}
			if tc.name == "multipart" && !strings.HasSuffix(string(out), "--XX--\r\nepilogue\r\n") || !strings.HasPrefix(string(out), tc.raw[:20]) {
				t.Errorf("message frame changed: %q", out)
			}
		})
	}
	plain := []byte("Subject: x\r\nContent-Transfer-Encoding: 8bit\r\n\r\nb\xe4dy\r\n")
	if out := EncodeBinaryParts(plain); &out[0] != &plain[0] {
		t.Error("message without binary parts was copied")
	}
}

func partPath(t *testing.T, s string) []int {
	t.Helper()
	var p []int
	for _, f := range strings.Split(s, ".") {
		n := 0
		for _, c := range f {
			n = n*10 + int(c-'0')
		}
		p = append(p, n)
	}
	return p
}
