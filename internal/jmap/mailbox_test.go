package jmap

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMailboxMissingParents: a mailbox whose parent does not exist (IMAP
// DELETE of the parent leaves it) is named under its nearest superior that does, so a
// client that joins parents' names with "/" gets the store's full name
// back (the webmail's Sieve rules file into it); Mailbox/query's parentId
// filter and a Mailbox/set move agree with it.
func TestMailboxMissingParents(t *testing.T) {
	srv, st := newTestServerIn(t, 10*time.Second, Limits{}, t.TempDir())
	ctx := context.Background()
	acct, err := st.GetAccount(ctx, "kate@example.test")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, name := range []string{"Lists/Go", "A", "A/B/C", "A/B2"} {
		mb, err := st.CreateMailbox(ctx, acct.ID, name, "")
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = mailboxID(mb.ID)
	}
	// The store made the parents; IMAP DELETE (RFC 9051 §6.3.5) removes
	// a parent and leaves its children.
	for _, name := range []string{"Lists", "A/B"} {
		if err := st.DeleteMailbox(ctx, acct.ID, name); err != nil {
			t.Fatal(err)
		}
	}
	call := func(calls string) []any {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/jmap/api", strings.NewReader(
			`{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":`+calls+`}`))
		req.SetBasicAuth("kate@example.test", "pw")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ MethodResponses [][]any }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.MethodResponses) == 0 {
			t.Fatalf("%d: %v %v", resp.StatusCode, err, out)
		}
		return out.MethodResponses[0]
	}
	get := func() map[string][2]any {
		t.Helper()
		got := map[string][2]any{}
		for _, m := range call(`[["Mailbox/get",{"accountId":"a1","properties":["name","parentId"]},"g"]]`)[1].(map[string]any)["list"].([]any) {
			mb := m.(map[string]any)
			got[mb["id"].(string)] = [2]any{mb["name"], mb["parentId"]}
		}
		return got
	}
	got := get()
	for name, want := range map[string][2]any{
		"Lists/Go": {"Lists/Go", nil}, "A": {"A", nil}, "A/B/C": {"B/C", ids["A"]}, "A/B2": {"B2", ids["A"]},
	} {
		if got[ids[name]] != want {
			t.Errorf("%s: name, parentId %v, want %v", name, got[ids[name]], want)
		}
	}
	q := call(`[["Mailbox/query",{"accountId":"a1","filter":{"parentId":"` + ids["A"] + `"}},"q"]]`)[1].(map[string]any)["ids"].([]any)
	if len(q) != 2 {
		t.Errorf("children of A: %v", q)
	}
	// Moved under A, "Lists/Go" keeps its name: A/Lists/Go.
	call(`[["Mailbox/set",{"accountId":"a1","update":{"` + ids["Lists/Go"] + `":{"parentId":"` + ids["A"] + `"}}},"s"]]`)
	if _, err := st.GetMailbox(ctx, acct.ID, "A/Lists/Go"); err != nil {
		t.Fatalf("after the move: %v (%v)", err, get())
	}
}
