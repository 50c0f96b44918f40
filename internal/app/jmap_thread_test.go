package app

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// threadMail is one message of the threading tests: its Message-ID
// (without brackets, "" for none), subject and References/In-Reply-To.
type threadMail struct{ id, subject, refs, inReplyTo string }

func (m threadMail) text(date int) string {
	h := fmt.Sprintf("From: ann@remote.test\r\nTo: kate@example.test\r\nSubject: %s\r\nDate: Mon, 30 Nov 2026 10:%02d:00 +0000\r\n", m.subject, date)
	if m.id != "" {
		h += "Message-ID: <" + m.id + "@remote.test>\r\n"
	}
	if m.refs != "" {
		h += "References: " + m.refs + "\r\n"
	}
	if m.inReplyTo != "" {
		h += "In-Reply-To: " + m.inReplyTo + "\r\n"
	}
	return h + "\r\n" + m.id + "\r\n"
}

// partition renders groups of names canonically: each group sorted,
// groups sorted.
func partition(groups map[string][]string) string {
	var out []string
	for _, g := range groups {
		slices.Sort(g)
		out = append(out, strings.Join(g, " "))
	}
	slices.Sort(out)
	return strings.Join(out, " | ")
}

// TestJMAPThreadsAgreeWithIMAP: messages delivered over SMTP are grouped
// into the same threads by JMAP (threads stored at delivery, RFC 8621 §3)
// and by IMAP's THREAD=REFERENCES (RFC 5256): replies by References, by
// In-Reply-To alone, a reply that arrived before its parent, a "Re:"
// without references (base subject), a forward, unrelated messages.
// collapseThreads gives one Email per thread; Thread/changes tells a new
// reply as an updated thread, a new message as a created one, and the
// last Email's destruction as a destroyed one.
func TestJMAPThreadsAgreeWithIMAP(t *testing.T) {
	a := startApp(t)
	mails := []threadMail{
		{id: "a", subject: "Plan"},
		{id: "b", subject: "Re: Plan", refs: "<a@remote.test>", inReplyTo: "<a@remote.test>"},
		{id: "c", subject: "Re: Plan", inReplyTo: "<b@remote.test>"},
		{id: "d", subject: "Lunch"},
		{id: "e", subject: "Re: Lunch"},
		{id: "f", subject: "Fwd: Plan"},
		{id: "g", subject: "Re: Dinner", refs: "<h@remote.test>"},
		{id: "h", subject: "Dinner"},
		{id: "i", subject: "Solo"},
	}
	for i, m := range mails {
		deliverRaw(t, a, "kate@example.test", m.text(i))
	}
	const want = "a b c f | d e | g h | i"

	// JMAP: the threadId of every Email.
	c := newJMAPClient(t, a, "kate@example.test")
	res := c.calls(`[["Email/query",{"accountId":"ACCT"},"q"],
		["Email/get",{"accountId":"ACCT","#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},"properties":["threadId","messageId"]},"g"]]`)
	byThread := map[string][]string{}
	threadOf := map[string]string{}
	for _, e := range res[1][1].(map[string]any)["list"].([]any) {
		e := e.(map[string]any)
		id := strings.TrimSuffix(e["messageId"].([]any)[0].(string), "@remote.test")
		byThread[e["threadId"].(string)] = append(byThread[e["threadId"].(string)], id)
		threadOf[id] = e["threadId"].(string)
	}
	if got := partition(byThread); got != want {
		t.Errorf("JMAP threads: %s\nwant %s", got, want)
	}

	// IMAP: UID THREAD REFERENCES over the same mailbox.
	ic := imapInbox(t, a, "kate@example.test")
	fetched, err := ic.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	nameOf := map[uint32]string{}
	for _, m := range fetched {
		nameOf[uint32(m.UID)] = strings.TrimSuffix(m.Envelope.MessageID, "@remote.test")
	}
	threads, err := ic.UIDThread(&imapclient.ThreadOptions{Algorithm: imap.ThreadReferences, SearchCriteria: &imap.SearchCriteria{}}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	imapGroups := map[string][]string{}
	var walk func(key string, d imapclient.ThreadData)
	walk = func(key string, d imapclient.ThreadData) {
		for _, u := range d.Chain {
			imapGroups[key] = append(imapGroups[key], nameOf[u])
		}
		for _, s := range d.SubThreads {
			walk(key, s)
		}
	}
	for i, th := range threads {
		walk(fmt.Sprint(i), th)
	}
	if got := partition(imapGroups); got != want {
		t.Errorf("IMAP THREAD REFERENCES: %s\nwant %s", got, want)
	}

	// collapseThreads: one Email per thread, the newest first.
	q := c.args(`[["Email/query",{"accountId":"ACCT","collapseThreads":true,"calculateTotal":true},"q"]]`, "Email/query")
	if ids := q["ids"].([]any); len(ids) != 4 || q["total"] != float64(4) || q["collapseThreads"] != true {
		t.Errorf("collapseThreads: %v", q)
	}

	// Thread/changes.
	state := c.args(`[["Thread/get",{"accountId":"ACCT","ids":[]},"t"]]`, "Thread/get")["state"].(string)
	deliverRaw(t, a, "kate@example.test", threadMail{id: "j", subject: "Re: Plan", refs: "<a@remote.test> <b@remote.test>"}.text(20))
	deliverRaw(t, a, "kate@example.test", threadMail{id: "k", subject: "New topic"}.text(21))
	ch := c.args(`[["Thread/changes",{"accountId":"ACCT","sinceState":"`+state+`"},"c"]]`, "Thread/changes")
	got := func(k string) string { return fmt.Sprint(ch[k]) }
	if got("updated") != "["+threadOf["a"]+"]" || got("destroyed") != "[]" || len(ch["created"].([]any)) != 1 || got("created") == "["+threadOf["a"]+"]" {
		t.Errorf("Thread/changes after a reply and a new message: %v", ch)
	}
	state = ch["newState"].(string)
	solo := c.args(`[["Thread/get",{"accountId":"ACCT","ids":["`+threadOf["i"]+`"]},"t"]]`, "Thread/get")["list"].([]any)
	if len(solo) != 1 {
		t.Fatalf("Thread/get %s: %v", threadOf["i"], solo)
	}
	only := solo[0].(map[string]any)["emailIds"].([]any)[0].(string)
	c.args(`[["Email/set",{"accountId":"ACCT","destroy":["`+only+`"]},"s"]]`, "Email/set")
	ch = c.args(`[["Thread/changes",{"accountId":"ACCT","sinceState":"`+state+`"},"c"]]`, "Thread/changes")
	if got("destroyed") != "["+threadOf["i"]+"]" || got("created")+got("updated") != "[][]" {
		t.Errorf("Thread/changes after destroying a thread's only Email: %v", ch)
	}
	if nf := c.args(`[["Thread/get",{"accountId":"ACCT","ids":["`+threadOf["i"]+`"]},"t"]]`, "Thread/get")["notFound"].([]any); len(nf) != 1 {
		t.Errorf("Thread/get of an empty thread: notFound %v", nf)
	}
}
