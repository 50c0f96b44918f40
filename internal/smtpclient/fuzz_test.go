package smtpclient_test

import (
	"bufio"
	"strings"
	"testing"

	"pochta/internal/smtpclient"
)

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// FuzzReadReply feeds arbitrary server output to the reply parser: it must
// never panic, and what it accepts must be a well-formed reply.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"250 ok\r\n",
		"220-mx.example.org ESMTP\r\n220 ready\r\n",
		"250-mx\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 CHUNKING\r\n",
		"550 5.1.1 <a@b>: no such user\r\n",
		"451-4.3.0 one\r\n451 4.3.0 two\r\n",
		"250\n",
		"999 x\r\n",
		"250-x\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(strings.NewReader(string(data)))
		for range 10 {
			rep, err := smtpclient.ReadReply(r)
			if err != nil {
				return
			}
			if rep.Code < 200 || rep.Code > 559 || len(rep.Lines) == 0 {
				t.Fatalf("accepted bad reply %+v", rep)
			}
			e := rep.Err()
			if len(e.Text) > 1000 || strings.ContainsAny(e.Text, "\r\n\x00") {
				t.Fatalf("unsafe text %q", e.Text)
			}
		}
	})
}
