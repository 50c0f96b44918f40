package app

import (
	"net/http"
	"slices"
	"testing"
)

// TestWebmailQuerySortAndFilter: what the webmail's list asks JMAP for —
// sorting by from, subject (base subject, RFC 5256 §2.1) and size, and the
// advanced search's hasAttachment, from, to, subject and date filters
// (RFC 8621 §4.4).
func TestWebmailQuerySortAndFilter(t *testing.T) {
	a := startApp(t)
	w := newWebClient(t, a)
	for _, m := range []struct{ from, name, subject, body string }{
		{"zed@remote.test", "Anna", "Re: banana", "short"},
		{"bob@remote.test", "", "cherry pie recipe", "a longer body than the others, to be the largest message of the three, surely"},
		{"carl@remote.test", "Carl", "apple", "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\r\nPDF\r\n--b--\r\n"},
	} {
		from := "<" + m.from + ">"
		if m.name != "" {
			from = m.name + " " + from
		}
		head := "From: " + from + "\r\nTo: <kate@example.test>\r\nSubject: " + m.subject + "\r\n"
		if m.subject == "apple" {
			head += "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
		}
		if err := sendPlain(a.Addrs()["smtp"][0], m.from, "kate@example.test", head+"\r\n"+m.body+"\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	if code, _ := w.login("kate@example.test", "pw", ""); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	subjects := func(filter, sort string) []string {
		t.Helper()
		code, out := w.jmap(`[["Email/query",{"accountId":null,"filter":`+filter+`,"sort":`+sort+`},"q"],`+
			`["Email/get",{"accountId":null,"#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},"properties":["subject"]},"g"]]`, nil)
		if code != http.StatusOK || len(out) != 2 {
			t.Fatalf("query %s %s: %d %v", filter, sort, code, out)
		}
		q := out[0].([]any)
		if q[0] != "Email/query" {
			t.Fatalf("query %s %s: %v", filter, sort, q)
		}
		var got []string
		for _, id := range q[1].(map[string]any)["ids"].([]any) {
			for _, e := range out[1].([]any)[1].(map[string]any)["list"].([]any) {
				if e.(map[string]any)["id"] == id {
					got = append(got, e.(map[string]any)["subject"].(string))
				}
			}
		}
		return got
	}
	for _, c := range []struct {
		filter, sort string
		want         []string
	}{
		{`null`, `[{"property":"subject","isAscending":true}]`, []string{"apple", "Re: banana", "cherry pie recipe"}},
		{`null`, `[{"property":"subject","isAscending":false}]`, []string{"cherry pie recipe", "Re: banana", "apple"}},
		// By the name, else the address: Anna, bob@, Carl.
		{`null`, `[{"property":"from","isAscending":true}]`, []string{"Re: banana", "cherry pie recipe", "apple"}},
		{`null`, `[{"property":"size","isAscending":false}]`, []string{"apple", "cherry pie recipe", "Re: banana"}},
		{`{"hasAttachment":true}`, `[]`, []string{"apple"}},
		{`{"operator":"AND","conditions":[{"hasAttachment":false},{"from":"bob"}]}`, `[]`, []string{"cherry pie recipe"}},
		{`{"operator":"AND","conditions":[{"to":"kate"},{"subject":"banana"},{"after":"2000-01-01T00:00:00Z"},{"before":"2100-01-01T00:00:00Z"}]}`, `[]`, []string{"Re: banana"}},
		{`{"after":"2100-01-01T00:00:00Z"}`, `[]`, nil},
	} {
		if got := subjects(c.filter, c.sort); !slices.Equal(got, c.want) {
			t.Errorf("filter %s sort %s: %q, want %q", c.filter, c.sort, got, c.want)
		}
	}
}
