package app

import (
	"fmt"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestWebmailBrowserSelectMany: in the browser, a tick and a shift-click
// select a range of the list, and the bulk actions mark them read and
// delete them to Trash in one go; the sort menu orders the list by
// subject; the advanced search finds by sender and attachment.
func TestWebmailBrowserSelectMany(t *testing.T) {
	a := startApp(t)
	for i, subj := range []string{"delta", "alpha", "charlie", "bravo"} {
		body := "hello\r\n"
		head := fmt.Sprintf("From: <s%d@remote.test>\r\nTo: <kate@example.test>\r\nSubject: %s\r\n", i, subj)
		if subj == "charlie" {
			head += "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"
			body = "--b\r\nContent-Type: text/plain\r\n\r\nsee\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\n\r\nPDF\r\n--b--\r\n"
		}
		if err := sendPlain(a.Addrs()["smtp"][0], fmt.Sprintf("s%d@remote.test", i), "kate@example.test", head+"\r\n"+body); err != nil {
			t.Fatal(err)
		}
	}
	jc := newJMAPClient(t, a, "kate@example.test")
	b := newBrowser(t, a)
	b.login("kate@example.test", "pw")
	b.until("four listed", `document.querySelectorAll('#messages .pick').length === 4`)
	order := func() []string {
		var got []string
		b.eval(`[...document.querySelectorAll('#messages .subject')].map(e => e.textContent)`, &got)
		return got
	}
	// Newest first: bravo, charlie, alpha, delta. Tick the first, shift-click the third.
	if got := order(); !slices.Equal(got, []string{"bravo", "charlie", "alpha", "delta"}) {
		t.Fatalf("list by date: %q", got)
	}
	b.click("tick the first", `#messages li:nth-child(1) .pick`, chromedp.ByQuery)
	b.until("bulk bar", `!!document.getElementById('bulk')`)
	b.eval(`document.querySelector('#messages li:nth-child(3) .pick').dispatchEvent(new MouseEvent('click', {bubbles: true, shiftKey: true})), true`, new(bool))
	b.until("three ticked", `document.querySelectorAll('#messages .pick:checked').length === 3`)
	b.click("mark read", `#bulk-read`, chromedp.ByQuery)
	b.until("three read", `document.querySelectorAll('#messages li.unseen').length === 1 && !document.getElementById('bulk')`)
	for subj, seen := range map[string]bool{"bravo": true, "charlie": true, "alpha": true, "delta": false} {
		kw, _ := findEmail(jc, subj)["keywords"].(map[string]any)
		if (kw["$seen"] == true) != seen {
			t.Errorf("%s: keywords %v, want seen %v", subj, kw, seen)
		}
	}

	b.run("sort by subject", chromedp.SetValue(`#sort`, "subject", chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('sort').dispatchEvent(new Event('change')), true`, new(bool)))
	b.until("sorted by subject", `[...document.querySelectorAll('#messages .subject')].map(e => e.textContent).join() === 'alpha,bravo,charlie,delta'`)

	b.click("tick delta", `#messages li:nth-child(4) .pick`, chromedp.ByQuery)
	b.click("delete", `#bulk-delete`, chromedp.ByQuery)
	b.until("delta gone", `document.querySelectorAll('#messages .pick').length === 3`)
	if role := mailboxRole(jc, onlyKey(findEmail(jc, "delta")["mailboxIds"])); role != "trash" {
		t.Errorf("deleted message in %q", role)
	}

	b.click("advanced search", `#adv-btn`, chromedp.ByQuery)
	b.run("search by attachment",
		chromedp.WaitVisible(`#adv-form`, chromedp.ByQuery),
		chromedp.Click(`#adv-form input[name=hasAttachment]`, chromedp.ByQuery),
		chromedp.SendKeys(`#adv-form input[name=from]`, "s2@", chromedp.ByQuery),
		chromedp.Click(`#adv-form button[type=submit]`, chromedp.ByQuery))
	b.until("one found", `[...document.querySelectorAll('#messages .subject')].map(e => e.textContent).join() === 'charlie'`)
	b.screenshot("list-advanced-search")
}

func onlyKey(m any) string {
	for k := range m.(map[string]any) {
		return k
	}
	return ""
}
