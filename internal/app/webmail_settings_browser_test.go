package app

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestWebmailBrowserFilters: in the browser's settings, a rule of the
// simple editor becomes Sieve in the raw editor; a raw script with a
// syntax error shows the parser's line and is not stored; the vacation
// reply is saved through JMAP into the same script; the Apple profile link
// names the user.
func TestWebmailBrowserFilters(t *testing.T) {
	a := startApp(t)
	ctx := context.Background()
	acct, _ := a.Store.GetAccount(ctx, "kate@example.test")
	if _, err := a.Store.CreateMailbox(ctx, acct.ID, "Bills", ""); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, a)
	b.login("kate@example.test", "pw")
	b.click("settings", `#settings-btn`, chromedp.ByQuery)
	b.until("settings shown", `!!document.getElementById('rule-form')`)
	b.run("add a rule",
		chromedp.SetValue(`#rule-form select[name=header]`, "Subject", chromedp.ByQuery),
		chromedp.SendKeys(`#rule-form input[name=contains]`, "invoice", chromedp.ByQuery),
		chromedp.SetValue(`#rule-form select[name=action]`, "move", chromedp.ByQuery),
		chromedp.SetValue(`#rule-form select[name=mailbox]`, "Bills", chromedp.ByQuery),
		chromedp.Click(`#rule-form button[type=submit]`, chromedp.ByQuery))
	b.until("the rule in the raw editor", `document.getElementById('sieve-script').value.includes('fileinto "Bills"')`)
	sc, err := a.Store.ActiveSieveScript(ctx, acct.ID)
	if err != nil || !strings.Contains(sc.Content, `if header :contains "Subject" "invoice" { fileinto "Bills"; stop; }`) {
		t.Fatalf("active script after the rule: %v\n%s", err, sc.Content)
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
	if !strings.Contains(sc.Content, "Back on Monday") || !strings.Contains(sc.Content, `fileinto "Bills"`) {
		t.Fatalf("script after the vacation reply:\n%s", sc.Content)
	}
	var href string
	b.eval(`document.querySelector('#apple-profile a').getAttribute('href')`, &href)
	if href != "/apple/profile.mobileconfig?email=kate%40example.test" {
		t.Fatalf("Apple profile link %q", href)
	}
	b.screenshot("settings-filters")
}
