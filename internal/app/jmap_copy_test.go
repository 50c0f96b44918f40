package app

import (
	"strings"
	"testing"
)

// TestJMAPEmailCopy: Email/copy makes a new Email (new id, same thread)
// in the target mailbox with the given keywords; with
// onSuccessDestroyOriginal the implicit Email/set destroys the original;
// an unknown Email is notCreated, another fromAccountId refused.
func TestJMAPEmailCopy(t *testing.T) {
	a := startApp(t)
	deliverSMTP(t, a, "kate@example.test", "Copy me", "body")
	c := newJMAPClient(t, a, "kate@example.test")
	q := c.args(`[["Email/query",{"accountId":"ACCT"},"q"]]`, "Email/query")
	orig := q["ids"].([]any)[0].(string)
	archive := c.args(`[["Mailbox/query",{"accountId":"ACCT","filter":{"role":"archive"}},"q"]]`, "Mailbox/query")["ids"].([]any)[0].(string)
	res := c.calls(`[["Email/copy",{"fromAccountId":"ACCT","accountId":"ACCT","create":{
		"c1":{"id":"` + orig + `","mailboxIds":{"` + archive + `":true},"keywords":{"$flagged":true}},
		"c2":{"id":"e999999","mailboxIds":{"` + archive + `":true}}},"onSuccessDestroyOriginal":true},"c"],
		["Email/get",{"accountId":"ACCT","ids":["#c1","` + orig + `"],"properties":["mailboxIds","keywords","threadId","subject"]},"g"]]`)
	if len(res) != 3 || res[0][0] != "Email/copy" || res[1][0] != "Email/set" || res[2][0] != "Email/get" {
		t.Fatalf("responses: %v", res)
	}
	cp := res[0][1].(map[string]any)
	created := cp["created"].(map[string]any)["c1"].(map[string]any)
	if created["id"] == orig || cp["notCreated"].(map[string]any)["c2"] == nil {
		t.Fatalf("Email/copy: %v", cp)
	}
	if d := res[1][1].(map[string]any)["destroyed"].([]any); len(d) != 1 || d[0] != orig {
		t.Fatalf("implicit Email/set: %v", res[1][1])
	}
	g := res[2][1].(map[string]any)
	list := g["list"].([]any)
	if len(list) != 1 || g["notFound"].([]any)[0] != orig {
		t.Fatalf("Email/get after copy: %v", g)
	}
	e := list[0].(map[string]any)
	if e["mailboxIds"].(map[string]any)[archive] != true || e["keywords"].(map[string]any)["$flagged"] != true ||
		e["subject"] != "Copy me" || e["threadId"] != created["threadId"] {
		t.Fatalf("the copy: %v (created %v)", e, created)
	}
	r := c.calls(`[["Email/copy",{"fromAccountId":"other","accountId":"ACCT","create":{}},"c"]]`)
	if r[0][0] != "error" || r[0][1].(map[string]any)["type"] != "fromAccountNotFound" {
		t.Fatalf("another fromAccountId: %v", r)
	}
}

// TestJMAPSearchSnippet: the subject and a body excerpt with the filter's
// terms in <mark>, HTML-escaped; null where the term is not found; terms
// under NOT are not marked; unknown Emails are notFound.
func TestJMAPSearchSnippet(t *testing.T) {
	a := startApp(t)
	deliverSMTP(t, a, "kate@example.test", "Quarterly <report>", strings.Repeat("filler ", 60)+"the REPORT & figures are attached")
	deliverSMTP(t, a, "kate@example.test", "Lunch", "nothing to see")
	c := newJMAPClient(t, a, "kate@example.test")
	q := c.args(`[["Email/query",{"accountId":"ACCT","filter":{"text":"report"}},"q"]]`, "Email/query")
	ids := q["ids"].([]any)
	if len(ids) != 1 {
		t.Fatalf("Email/query text: %v", q)
	}
	s := c.args(`[["SearchSnippet/get",{"accountId":"ACCT","filter":{"text":"report"},"emailIds":["`+ids[0].(string)+`","e999999"]},"s"]]`, "SearchSnippet/get")
	list := s["list"].([]any)
	if len(list) != 1 || s["notFound"].([]any)[0] != "e999999" {
		t.Fatalf("SearchSnippet/get: %v", s)
	}
	sn := list[0].(map[string]any)
	if sn["subject"] != "Quarterly &lt;<mark>report</mark>&gt;" {
		t.Errorf("subject snippet %q", sn["subject"])
	}
	p, _ := sn["preview"].(string)
	if !strings.Contains(p, "the <mark>REPORT</mark> &amp; figures") || len(p) > 300 {
		t.Errorf("preview snippet %q", p)
	}
	s = c.args(`[["SearchSnippet/get",{"accountId":"ACCT","filter":{"operator":"AND","conditions":[{"body":"figures"},{"operator":"NOT","conditions":[{"subject":"lunch"}]}]},"emailIds":["`+ids[0].(string)+`"]},"s"]]`, "SearchSnippet/get")
	sn = s["list"].([]any)[0].(map[string]any)
	if sn["subject"] != nil || !strings.Contains(sn["preview"].(string), "<mark>figures</mark>") {
		t.Errorf("body-only snippet: %v", sn)
	}
}
