package app

import (
	"fmt"
	"strings"
	"testing"
)

// TestJMAPMailboxThreadCounts: Mailbox totalThreads and unreadThreads
// count threads, not Emails (RFC 8621 §2): a reply shares its parent's
// thread; a thread is unread while any of its Emails is unread — except
// one in the Trash, which counts only for the Trash itself.
func TestJMAPMailboxThreadCounts(t *testing.T) {
	a := startApp(t)
	for i, m := range []threadMail{
		{id: "a", subject: "Plan"},
		{id: "b", subject: "Re: Plan", refs: "<a@remote.test>", inReplyTo: "<a@remote.test>"},
		{id: "d", subject: "Lunch"},
	} {
		deliverRaw(t, a, "kate@example.test", m.text(i))
	}
	c := newJMAPClient(t, a, "kate@example.test")
	boxes := func() map[string]string { // role -> "emails/threads/unread threads"
		t.Helper()
		out := map[string]string{}
		for _, m := range c.args(`[["Mailbox/get",{"accountId":"ACCT"},"m"]]`, "Mailbox/get")["list"].([]any) {
			m := m.(map[string]any)
			if r, ok := m["role"].(string); ok {
				out[r] = fmt.Sprintf("%v/%v/%v", m["totalEmails"], m["totalThreads"], m["unreadThreads"])
				out[r+"-id"] = m["id"].(string)
			}
		}
		return out
	}
	emailID := map[string]string{}
	res := c.calls(`[["Email/query",{"accountId":"ACCT"},"q"],
		["Email/get",{"accountId":"ACCT","#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},"properties":["messageId"]},"g"]]`)
	for _, e := range res[1][1].(map[string]any)["list"].([]any) {
		e := e.(map[string]any)
		emailID[strings.TrimSuffix(e["messageId"].([]any)[0].(string), "@remote.test")] = e["id"].(string)
	}
	b := boxes()
	if b["inbox"] != "3/2/2" || b["trash"] != "0/0/0" {
		t.Fatalf("INBOX %s, Trash %s; want 3 Emails in 2 threads, both unread, and an empty Trash", b["inbox"], b["trash"])
	}
	set := func(id, patch string) {
		t.Helper()
		r := c.args(`[["Email/set",{"accountId":"ACCT","update":{"`+id+`":`+patch+`}},"s"]]`, "Email/set")
		if _, ok := r["updated"].(map[string]any)[id]; !ok {
			t.Fatalf("Email/set %s: %v", patch, r)
		}
	}
	set(emailID["a"], `{"keywords/$seen":true}`)
	set(emailID["d"], `{"keywords/$seen":true}`)
	if got := boxes()["inbox"]; got != "3/2/1" {
		t.Fatalf("INBOX %s after reading a and d, want 3/2/1 (b unread)", got)
	}
	// The unread reply goes to the Trash: INBOX's thread is read now.
	set(emailID["b"], `{"mailboxIds":{"`+b["trash-id"]+`":true}}`)
	if b := boxes(); b["inbox"] != "2/2/0" || b["trash"] != "1/1/1" {
		t.Fatalf("after moving b to the Trash: INBOX %s, Trash %s; want 2/2/0 and 1/1/1", b["inbox"], b["trash"])
	}
	// collapseThreads: Email/query's total counts threads too.
	q := c.args(`[["Email/query",{"accountId":"ACCT","collapseThreads":true,"calculateTotal":true},"q"]]`, "Email/query")
	if q["total"] != float64(2) || len(q["ids"].([]any)) != 2 {
		t.Fatalf("collapsed query: %v, want 2 threads", q)
	}
}
