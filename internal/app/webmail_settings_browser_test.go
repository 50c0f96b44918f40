package app

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestWebmailBrowserFilters: in the browser's settings, a rule of the
// simple editor becomes Sieve in the raw editor; its folder menu lists
// nested folders by their full name, and a message delivered over SMTP
// that matches the rule lands in the nested folder; a raw script with a
// syntax error shows the parser's line and is not stored; the vacation
// reply is saved through JMAP into the same script; the Apple profile link
// names the user.
func TestWebmailBrowserFilters(t *testing.T) {
	a := startApp(t)
	ctx := context.Background()
	acct, _ := a.Store.GetAccount(ctx, "kate@example.test")
	for _, name := range []string{"Bills", "Lists", "Lists/Go"} {
		if _, err := a.Store.CreateMailbox(ctx, acct.ID, name, ""); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, a)
	b.login("kate@example.test", "pw")
	b.click("settings", `#settings-btn`, chromedp.ByQuery)
	b.until("settings shown", `!!document.getElementById('rule-form')`)
	var folders []string
	b.eval(`[...document.querySelectorAll('#rule-form select[name=mailbox] option')].map(o => o.value + '=' + o.textContent)`, &folders)
	for _, want := range []string{"Bills=Bills", "Lists=Lists", "Lists/Go=Lists/Go"} {
		if !slices.Contains(folders, want) {
			t.Fatalf("the rule's folder menu %q lacks %q", folders, want)
		}
	}
	b.run("add a rule",
		chromedp.SetValue(`#rule-form select[name=header]`, "Subject", chromedp.ByQuery),
		chromedp.SendKeys(`#rule-form input[name=contains]`, "invoice", chromedp.ByQuery),
		chromedp.SetValue(`#rule-form select[name=action]`, "move", chromedp.ByQuery),
		chromedp.SetValue(`#rule-form select[name=mailbox]`, "Lists/Go", chromedp.ByQuery),
		chromedp.Click(`#rule-form button[type=submit]`, chromedp.ByQuery))
	b.until("the rule in the raw editor", `document.getElementById('sieve-script').value.includes('fileinto "Lists/Go"')`)
	sc, err := a.Store.ActiveSieveScript(ctx, acct.ID)
	if err != nil || !strings.Contains(sc.Content, `if header :contains "Subject" "invoice" { fileinto "Lists/Go"; stop; }`) {
		t.Fatalf("active script after the rule: %v\n%s", err, sc.Content)
	}
	// Delivered over SMTP, the matching message is filed into Lists/Go
	// (JMAP: the mailbox "Go" whose parent is "Lists"), not a new
	// top-level "Go".
	deliverRaw(t, a, "kate@example.test", "From: <ann@remote.test>\r\nTo: <kate@example.test>\r\nSubject: Your invoice 7\r\n\r\nPay.\r\n")
	jc := newJMAPClient(t, a, "kate@example.test")
	e := findEmail(jc, "Your invoice 7")
	if e == nil {
		t.Fatal("the invoice was not delivered")
	}
	if got := mailboxPath(jc, onlyKey(e["mailboxIds"])); got != "Lists/Go" {
		t.Fatalf("the invoice was filed into %q, want Lists/Go", got)
	}

	b.run("save a broken script",
		chromedp.SetValue(`#sieve-script`, "if header :contains \"subject\" \"x\" {\n  discard\n}\n", chromedp.ByQuery),
		chromedp.Click(`#sieve-save`, chromedp.ByQuery))
	b.until("the syntax error shown", `document.getElementById('sieve-status').textContent.includes('line 3')`)
	if sc2, _ := a.Store.ActiveSieveScript(ctx, acct.ID); sc2.Content != sc.Content {
		t.Fatalf("a broken script was stored:\n%s", sc2.Content)
	}

	b.run("vacation",
		chromedp.Click(`#vacation-form input[name=enabled]`, chromedp.ByQuery),
		chromedp.SendKeys(`#vacation-form input[name=subject]`, "Away", chromedp.ByQuery),
		chromedp.SendKeys(`#vacation-form textarea[name=text]`, "Back on Monday", chromedp.ByQuery),
		chromedp.Click(`#vacation-form button[type=submit]`, chromedp.ByQuery))
	b.until("vacation saved", `document.getElementById('vacation-status').textContent !== ''`)
	sc, _ = a.Store.ActiveSieveScript(ctx, acct.ID)
	if !strings.Contains(sc.Content, "Back on Monday") || !strings.Contains(sc.Content, `fileinto "Lists/Go"`) {
		t.Fatalf("script after the vacation reply:\n%s", sc.Content)
	}
	var href string
	b.eval(`document.querySelector('#apple-profile a').getAttribute('href')`, &href)
	if href != "/apple/profile.mobileconfig?email=kate%40example.test" {
		t.Fatalf("Apple profile link %q", href)
	}
	b.screenshot("settings-filters")
}

// mailboxPath is a mailbox's full name through JMAP: its name and its
// parents' joined by "/".
func mailboxPath(c *jmapClient, id string) string {
	c.t.Helper()
	got := c.args(`[["Mailbox/get",{"accountId":"ACCT","properties":["id","name","parentId"]},"m"]]`, "Mailbox/get")
	byID := map[string]map[string]any{}
	for _, m := range got["list"].([]any) {
		mb := m.(map[string]any)
		byID[mb["id"].(string)] = mb
	}
	var parts []string
	for mb := byID[id]; mb != nil && len(parts) <= len(byID); {
		parts = append([]string{mb["name"].(string)}, parts...)
		p, _ := mb["parentId"].(string)
		mb = byID[p]
	}
	return strings.Join(parts, "/")
}
