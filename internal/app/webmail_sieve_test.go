package app

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestWebmailSieve: the settings' Sieve editor. A script with a syntax
// error is refused with internal/sieve's line and column and changes
// nothing; rules of the simple editor become the active script, which
// delivery over SMTP then follows (move to a folder, mark read, discard);
// JMAP's vacation reply is written into the same script, and the raw
// editor shows it all.
func TestWebmailSieve(t *testing.T) {
	a := startApp(t)
	ctx := context.Background()
	acct, _ := a.Store.GetAccount(ctx, "kate@example.test")
	if _, err := a.Store.CreateMailbox(ctx, acct.ID, "Bills", ""); err != nil {
		t.Fatal(err)
	}
	w := newWebClient(t, a)
	if code, _ := w.login("kate@example.test", "pw", ""); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	var got map[string]any
	if resp := w.req("GET", "/web/sieve", "", "", nil, &got); resp.StatusCode != http.StatusOK || got["active"] != false || got["content"] != "" {
		t.Fatalf("no script yet: %d %v", resp.StatusCode, got)
	}
	resp := w.req("POST", "/web/sieve", "application/json", `{"content":"require \"fileinto\";\nif header :contains \"subject\" \"x\" {\n  fileinto \"Bills\"\n}\n"}`, nil, &got)
	if resp.StatusCode != http.StatusUnprocessableEntity || got["line"] != float64(4) || !strings.Contains(got["error"].(string), "line 4") {
		t.Fatalf("syntax error: %d %v", resp.StatusCode, got)
	}
	if _, err := a.Store.ActiveSieveScript(ctx, acct.ID); err == nil {
		t.Fatal("a script that does not parse was stored")
	}
	// Without the CSRF token nothing is changed.
	if resp := w.req("POST", "/web/sieve", "application/json", `{"content":"keep;"}`, map[string]string{"X-CSRF-Token": ""}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no CSRF token: %d", resp.StatusCode)
	}

	for _, rule := range []string{
		`{"header":"Subject","contains":"invoice","action":"move","mailbox":"Bills"}`,
		`{"header":"Subject","contains":"newsletter","action":"read"}`,
		`{"header":"From","contains":"pest@","action":"discard"}`,
	} {
		if resp := w.req("POST", "/web/sieve/rule", "application/json", rule, nil, &got); resp.StatusCode != http.StatusOK {
			t.Fatalf("rule %s: %d %v", rule, resp.StatusCode, got)
		}
	}
	if resp := w.req("POST", "/web/sieve/rule", "application/json", `{"header":"Subject","contains":"x","action":"explode"}`, nil, &got); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad rule: %d %v", resp.StatusCode, got)
	}
	for _, m := range []struct{ from, subject string }{
		{"a@remote.test", "Your invoice 42"}, {"b@remote.test", "Weekly newsletter"},
		{"pest@remote.test", "buy now"}, {"c@remote.test", "hello"},
	} {
		msg := "From: <" + m.from + ">\r\nTo: <kate@example.test>\r\nSubject: " + m.subject + "\r\n\r\nbody\r\n"
		if err := sendPlain(a.Addrs()["smtp"][0], m.from, "kate@example.test", msg); err != nil {
			t.Fatal(err)
		}
	}
	status := func(name string) (uint32, uint32) {
		mb, err := a.Store.GetMailbox(ctx, acct.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		st, err := a.Store.Status(ctx, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		return st.Messages, st.Unseen
	}
	if n, _ := status("Bills"); n != 1 {
		t.Errorf("Bills has %d messages, want the invoice", n)
	}
	// INBOX: the newsletter (read) and hello (unread); the pest discarded.
	if n, unseen := status("INBOX"); n != 2 || unseen != 1 {
		t.Errorf("INBOX: %d messages, %d unseen; want 2, 1", n, unseen)
	}

	// The vacation reply through JMAP goes into the same script.
	var out struct{ MethodResponses [][]any }
	resp = w.req("POST", "/jmap/api", "application/json", `{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail","urn:ietf:params:jmap:vacationresponse"],`+
		`"methodCalls":[["VacationResponse/set",{"accountId":"`+w.acct+`","update":{"singleton":{"isEnabled":true,"subject":"Away","textBody":"Back on Monday"}}},"v"]]}`, nil, &out)
	if resp.StatusCode != http.StatusOK || len(out.MethodResponses) != 1 || out.MethodResponses[0][0] != "VacationResponse/set" {
		t.Fatalf("VacationResponse/set: %d %v", resp.StatusCode, out)
	}
	w.req("GET", "/web/sieve", "", "", nil, &got)
	content, _ := got["content"].(string)
	for _, want := range []string{"Back on Monday", `fileinto "Bills"`, `addflag "\\Seen"`, "discard"} {
		if !strings.Contains(content, want) {
			t.Errorf("the script lacks %q:\n%s", want, content)
		}
	}
}
