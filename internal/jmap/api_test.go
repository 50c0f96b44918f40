package jmap

import (
	"encoding/json"
	"testing"
)

// TestEvalPointer: JSON pointers with the "*" extension of RFC 8620 §3.7.
func TestEvalPointer(t *testing.T) {
	var doc any
	json.Unmarshal([]byte(`{"ids":["a","b"],"list":[{"id":"1","t":["x","y"]},{"id":"2","t":["z"]}],"a/b":{"~":5}}`), &doc)
	for _, tc := range []struct{ path, want string }{
		{"", `{"a/b":{"~":5},"ids":["a","b"],"list":[{"id":"1","t":["x","y"]},{"id":"2","t":["z"]}]}`},
		{"/ids", `["a","b"]`},
		{"/ids/1", `"b"`},
		{"/list/*/id", `["1","2"]`},
		{"/list/*/t", `["x","y","z"]`}, // arrays are flattened
		{"/a~1b/~0", `5`},
		{"/ids/2", "error"},
		{"/ids/01", "error"},
		{"/nope", "error"},
		{"ids", "error"},
		{"/ids/0/x", "error"},
	} {
		v, err := evalPointer(doc, tc.path)
		got := "error"
		if err == nil {
			b, _ := json.Marshal(v)
			got = string(b)
		}
		if got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.path, got, tc.want)
		}
	}
}

func TestParseRequestErrors(t *testing.T) {
	for body, want := range map[string]string{
		`nope`:         "urn:ietf:params:jmap:error:notJSON",
		`{} {}`:        "urn:ietf:params:jmap:error:notJSON",
		`[]`:           "urn:ietf:params:jmap:error:notRequest",
		`{"using":[]}`: "urn:ietf:params:jmap:error:notRequest",
		`{"using":[],"methodCalls":[["a",{},"c","extra"]]}`: "urn:ietf:params:jmap:error:notRequest",
		`{"using":[],"methodCalls":[["a",[],"c"]]}`:         "urn:ietf:params:jmap:error:notRequest",
		`{"using":[],"methodCalls":[["a",{},"c"]]}`:         "",
	} {
		_, p := ParseRequest([]byte(body))
		got := ""
		if p != nil {
			got = p.Type
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", body, got, want)
		}
	}
}

// TestBodyStructure: textBody, htmlBody and attachments of a typical
// multipart/mixed with an alternative (RFC 8621 §4.1.4).
func TestBodyStructure(t *testing.T) {
	raw := "Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n" +
		"--a\r\nContent-Type: text/plain\r\n\r\nplain\r\n--a\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--a--\r\n" +
		"--m\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=i.png\r\n\r\nPNG\r\n--m--\r\n"
	b := structure(parseParts([]byte(raw)))
	ids := func(list []*part) (s string) {
		for _, p := range list {
			s += p.PartID + ":" + p.Type + " "
		}
		return s
	}
	if got := ids(b.text) + "|" + ids(b.html) + "|" + ids(b.attach); got != "1:text/plain |2:text/html |3:image/png " {
		t.Fatalf("got %s", got)
	}
	if p := preview(b, 256); p != "plain" {
		t.Fatalf("preview %q", p)
	}
}
