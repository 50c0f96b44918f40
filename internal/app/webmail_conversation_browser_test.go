package app

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestWebmailBrowserConversation: in the browser, ticking a conversation
// of three messages in the inbox and moving it to a nested folder moves
// all three (checked through JMAP), and not the conversation's message in
// another folder; "forward as attachment" sends the original as a
// message/rfc822 part with no text beside it (checked in the raw message
// that arrives).
func TestWebmailBrowserConversation(t *testing.T) {
	a := startApp(t)
	addAccount(t, a, "bob@example.test", "pw")
	ctx := context.Background()
	acct, _ := a.Store.GetAccount(ctx, "kate@example.test")
	for _, name := range []string{"Lists", "Lists/Go"} {
		if _, err := a.Store.CreateMailbox(ctx, acct.ID, name, ""); err != nil {
			t.Fatal(err)
		}
	}
	const original = "From: Ann <ann@remote.test>\r\nTo: <kate@example.test>\r\nSubject: Other\r\nMessage-ID: <other@remote.test>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nНе разговор.\r\n"
	deliverRaw(t, a, "kate@example.test", original)
	// A conversation of four: the first goes to Archive, three stay.
	refs := ""
	for i, subj := range []string{"Plans", "Re: Plans", "Re: Plans", "Re: Plans"} {
		id := "<plans" + string(rune('1'+i)) + "@remote.test>"
		head := "From: <ann@remote.test>\r\nTo: <kate@example.test>\r\nSubject: " + subj + "\r\nMessage-ID: " + id + "\r\n"
		if refs != "" {
			head += "In-Reply-To: " + refs[strings.LastIndex(refs, " ")+1:] + "\r\nReferences: " + refs + "\r\n"
		}
		deliverRaw(t, a, "kate@example.test", head+"\r\nmessage "+string(rune('1'+i))+"\r\n")
		refs = strings.TrimSpace(refs + " " + id)
	}
	jc := newJMAPClient(t, a, "kate@example.test")
	plans := func() (ids []string, where map[string]string) {
		got := jc.args(`[["Email/query",{"accountId":"ACCT"},"q"],["Email/get",{"accountId":"ACCT","#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},"properties":["subject","mailboxIds","threadId"]},"g"]]`, "Email/get")
		where = map[string]string{}
		for _, e := range got["list"].([]any) {
			m := e.(map[string]any)
			if strings.HasSuffix(m["subject"].(string), "Plans") {
				ids = append(ids, m["id"].(string))
				where[m["id"].(string)] = mailboxPath(jc, onlyKey(m["mailboxIds"]))
			}
		}
		return ids, where
	}
	ids, _ := plans()
	if len(ids) != 4 {
		t.Fatalf("%d messages of the conversation", len(ids))
	}
	first := findEmail(jc, "Plans")["id"].(string)
	archive := jc.args(`[["Mailbox/query",{"accountId":"ACCT","filter":{"role":"archive"}},"q"]]`, "Mailbox/query")["ids"].([]any)[0].(string)
	jc.args(`[["Email/set",{"accountId":"ACCT","update":{"`+first+`":{"mailboxIds":{"`+archive+`":true}}}},"s"]]`, "Email/set")

	b := newBrowser(t, a)
	b.login("kate@example.test", "pw")
	b.until("two rows, one a conversation of four", `document.querySelectorAll('#messages .pick').length === 2 && document.querySelector('#messages li:nth-child(1) .count')?.textContent === '4'`)
	// The pager counts messages: all four of the inbox are on this page.
	b.until("one page", `document.querySelector('.pager span').textContent === '1–4 / 4' && document.querySelector('.pager button:last-child').disabled`)
	b.until("the nested folder under its parent", `document.querySelector('#folders button[title="Lists/Go"]')?.dataset.depth === '1'`)
	b.click("tick the conversation", `#messages li:nth-child(1) .pick`, chromedp.ByQuery)
	b.until("the move menu names Lists/Go", `[...document.querySelectorAll('#bulk-move option')].some(o => o.textContent === 'Lists/Go')`)
	b.screenshot("list-conversation-ticked")
	b.eval(`(() => { const s = document.getElementById('bulk-move'); s.value = [...s.options].find(o => o.textContent === 'Lists/Go').value; s.dispatchEvent(new Event('change')); return true })()`, new(bool))
	b.until("only Other left", `[...document.querySelectorAll('#messages .subject')].map(e => e.textContent).join() === 'Other'`)
	_, where := plans()
	for id, path := range where {
		want := "Lists/Go"
		if id == first {
			want = "Archive"
		}
		if path != want {
			t.Errorf("message %s of the conversation in %q, want %q", id, path, want)
		}
	}

	// Forward as attachment.
	b.open("Other")
	b.run("forward as attachment", chromedp.Click(`#forward-attach-btn`, chromedp.ByQuery), chromedp.WaitVisible(`#compose input[name=to]`, chromedp.ByQuery))
	b.until("forward filled", `document.querySelector('#compose input[name=subject]').value === 'Fwd: Other' && document.querySelector('#compose .files').textContent.includes('Other.eml') && document.querySelector('#compose textarea').value === ''`)
	b.run("send", chromedp.SendKeys(`#compose input[name=to]`, "bob@example.test", chromedp.ByQuery), chromedp.Click(`#send-btn`, chromedp.ByQuery))
	b.until("compose closed", `!document.getElementById('compose')`)
	bob := newJMAPClient(t, a, "bob@example.test")
	got := bob.args(`[["Email/query",{"accountId":"ACCT"},"q"],["Email/get",{"accountId":"ACCT","#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},"properties":["subject","blobId"]},"g"]]`, "Email/get")
	list := got["list"].([]any)
	if len(list) != 1 {
		t.Fatalf("bob has %d messages, want the forward", len(list))
	}
	resp := bob.do("GET", "/jmap/download/"+bob.acct+"/"+list[0].(map[string]any)["blobId"].(string)+"/m.eml?type=message/rfc822", "", nil)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	checkForwardedAsAttachment(t, raw, original)
}

// checkForwardedAsAttachment: raw is multipart/mixed with one part, the
// original as message/rfc822 in 8bit (it has UTF-8 text; RFC 2046 §5.2.1
// allows no other encoding), byte for byte.
func checkForwardedAsAttachment(t *testing.T, raw []byte, original string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("forward: %v\n%s", err, raw)
	}
	if m.Header.Get("Subject") != "Fwd: Other" {
		t.Errorf("forward's subject %q", m.Header.Get("Subject"))
	}
	typ, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || typ != "multipart/mixed" {
		t.Fatalf("forward's Content-Type %q (%v)\n%s", m.Header.Get("Content-Type"), err, raw)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("forward's parts: %v\n%s", err, raw)
		}
		ptype, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts = append(parts, ptype)
		if ptype != "message/rfc822" {
			continue
		}
		if cte := p.Header.Get("Content-Transfer-Encoding"); cte != "8bit" {
			t.Errorf("message/rfc822 part in %q, want 8bit", cte)
		}
		if _, params, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition")); params["filename"] != "Other.eml" {
			t.Errorf("attachment's Content-Disposition %q", p.Header.Get("Content-Disposition"))
		}
		inner, _ := io.ReadAll(p)
		// The stored original has our Return-Path and Received on top.
		if !strings.HasSuffix(string(inner)+"\r\n", original) {
			t.Errorf("the attached message is not the original:\n%q", inner)
		}
	}
	if len(parts) != 1 || parts[0] != "message/rfc822" {
		t.Fatalf("forward's parts %q, want only message/rfc822\n%s", parts, raw)
	}
}
