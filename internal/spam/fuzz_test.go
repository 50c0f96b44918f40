package spam

import (
	"strings"
	"testing"
)

// FuzzRspamdReply: whatever Rspamd (or something pretending to be it)
// answers, the reader returns an error or a verdict whose header is one
// well-formed field (no CR/LF injection) and whose reply is 4xx/5xx.
func FuzzRspamdReply(f *testing.F) {
	f.Add([]byte(`{"score":3.5,"required_score":15,"action":"no action","symbols":{"RDNS_NONE":{"score":1.0}}}`))
	f.Add([]byte(`{"score":15,"action":"reject","messages":{"smtp_message":"Gtube pattern"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseRspamdReply(data)
		if err != nil {
			return
		}
		v := r.verdict()
		checkHeaders(t, v)
		if v.Reply != nil && (v.Reply.Code < 400 || v.Reply.Code > 599 || strings.ContainsAny(v.Reply.Text, "\r\n")) {
			t.Fatalf("bad reply %q", v.Reply.Error())
		}
	})
}

// FuzzTokens: any message content tokenises without panicking, within
// the token bound, into distinct tokens, and stripping X-Spam fields
// leaves no X-Spam field in the header.
func FuzzTokens(f *testing.F) {
	f.Add([]byte(normalMsg))
	f.Add([]byte("X-Spam: Yes\r\n\tcontinued\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<b>hi</b>\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		toks := Tokens(data)
		if len(toks) > maxTokens {
			t.Fatalf("%d tokens", len(toks))
		}
		seen := map[string]bool{}
		for _, tok := range toks {
			if seen[tok] {
				t.Fatalf("duplicate token %q", tok)
			}
			seen[tok] = true
		}
		for _, f := range parseHeader(StripSpamHeaders(data)) {
			if strings.EqualFold(f.name, "X-Spam") || strings.EqualFold(f.name, "X-Spam-Score") {
				t.Fatalf("%s survived stripping", f.name)
			}
		}
	})
}

func checkHeaders(t *testing.T, v Verdict) {
	t.Helper()
	h := v.Headers()
	if !strings.HasPrefix(h, "X-Spam-Score: ") || !strings.HasSuffix(h, "\r\n") {
		t.Fatalf("bad header %q", h)
	}
	for i, line := range strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n") {
		if strings.ContainsAny(line, "\r\n") || (i > 0 && line[0] != '\t' && line != "X-Spam: Yes") {
			t.Fatalf("bad header line %q in %q", line, h)
		}
	}
}
