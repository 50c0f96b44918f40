package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The webmail in a real browser: Debian's chromium, headless, driven by
// chromedp over the DevTools protocol, against the whole server on
// loopback.

// browser is one headless chromium for a test, closed when it ends.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string // where screenshots go
}

func newBrowser(t *testing.T, a *App) *browser {
	t.Helper()
	// Keep the sandboxed message frame in the page's process, so the
	// test can look inside it (the sandbox itself is unchanged).
	ctx := headless(t, 1280, 800, 90*time.Second,
		chromedp.Flag("disable-features", "IsolateSandboxedIframes,site-per-process"),
		chromedp.Flag("disable-site-isolation-trials", true))
	dir := os.Getenv("WEBMAIL_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, base: "http://" + a.Addrs()["http"][0], shot: dir}
}

func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// until waits for a JavaScript condition in the app's page.
func (b *browser) until(what, cond string) {
	b.t.Helper()
	var ok bool
	if err := chromedp.Run(b.ctx, chromedp.Poll(cond, &ok, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		var html string
		chromedp.Run(b.ctx, chromedp.OuterHTML("#app", &html, chromedp.ByQuery))
		b.t.Fatalf("waiting for %s (%s): %v\n%s", what, cond, err, html)
	}
}

// eval runs JavaScript (awaiting a promise) and stores its value in out.
func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	b.run("eval "+expr, chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	var buf []byte
	b.run("screenshot", chromedp.CaptureScreenshot(&buf))
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) login(user, pass string) {
	b.t.Helper()
	b.run("log in",
		chromedp.Navigate(b.base+"/"),
		chromedp.WaitVisible(`input[name=username]`, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=username]`, user, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=password]`, pass, chromedp.ByQuery),
		chromedp.Click(`#login button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#folders .folder`, chromedp.ByQuery))
}

// click clicks an element of the list or the folders, which a push may
// redraw between finding the element and clicking it: then it is found
// again (bounded).
func (b *browser) click(what, sel string, by chromedp.QueryOption) {
	b.t.Helper()
	var err error
	for i := 0; i < 5; i++ {
		if err = chromedp.Run(b.ctx, chromedp.Click(sel, by)); err == nil {
			return
		}
	}
	b.t.Fatalf("%s: %v", what, err)
}

// subjectXPath finds a message list entry by its subject text.
func subjectXPath(s string) string {
	return fmt.Sprintf(`//ul[@id="messages"]//span[@class="subject" and text()=%q]`, s)
}

func listed(s string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#messages .subject')].some(e => e.textContent === %q)`, s)
}

// open clicks a message in the list and waits for it to show.
func (b *browser) open(subject string) {
	b.t.Helper()
	b.until("message "+subject+" listed", listed(subject))
	b.click("open "+subject, subjectXPath(subject), chromedp.BySearch)
	b.until("message "+subject+" open", fmt.Sprintf(`document.getElementById('subject')?.textContent === %q`, subject))
}

func (b *browser) folder(role string) {
	b.t.Helper()
	b.click("folder "+role, `#folders button[data-role=`+role+`]`, chromedp.ByQuery)
	b.until("folder "+role+" shown", `document.querySelector('#folders button[data-role=`+role+`]').classList.contains('current')`)
}

// findEmail looks through the account's mail (JMAP, Basic auth) for a
// subject.
func findEmail(c *jmapClient, subject string) map[string]any {
	c.t.Helper()
	got := c.args(`[["Email/query",{"accountId":"ACCT"},"q"],["Email/get",{"accountId":"ACCT","#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},"properties":["subject","mailboxIds","hasAttachment","attachments","keywords"]},"g"]]`, "Email/get")
	for _, e := range got["list"].([]any) {
		if m := e.(map[string]any); m["subject"] == subject {
			return m
		}
	}
	return nil
}

func mailboxRole(c *jmapClient, id string) string {
	got := c.args(`[["Mailbox/get",{"accountId":"ACCT","ids":["`+id+`"]},"m"]]`, "Mailbox/get")
	r, _ := got["list"].([]any)[0].(map[string]any)["role"].(string)
	return r
}

// TestWebmailBrowser walks the journey in chromium: log in; a
// message delivered over SMTP appears without reloading; open it; reply,
// and the reply arrives at the other account; send with an attachment and
// download it; move to Junk; search; change the password; log out.
func TestWebmailBrowser(t *testing.T) {
	a := startApp(t)
	addAccount(t, a, "bob@example.test", "pw")
	bob := newJMAPClient(t, a, "bob@example.test")
	b := newBrowser(t, a)
	b.login("kate@example.test", "pw")

	// Live: mail delivered while the list is open shows up by push.
	// Two forged Authentication-Results: the server removes the one in its
	// name and adds its own; the webmail believes only that one.
	deliverRaw(t, a, "kate@example.test", "Authentication-Results: evil.test; dkim=pass header.d=bank.test\r\n"+
		"Authentication-Results: mx.example.test; spf=fail smtp.mailfrom=bob@example.test; dkim=pass header.d=example.test\r\n"+
		"From: Bob <bob@example.test>\r\nTo: kate@example.test\r\nSubject: Lunch on Friday?\r\n"+
		"Message-ID: <lunch@example.test>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\nShall we meet at noon?\r\n")
	b.until("the new message without reload", listed("Lunch on Friday?"))
	b.until("unread count", `document.querySelector('#folders button[data-role=inbox] .unread')?.textContent === '1'`)
	b.screenshot("list")
	b.open("Lunch on Friday?")
	b.until("plain text body", `document.querySelector('pre.body')?.textContent.includes('Shall we meet at noon?')`)
	var verdict string
	b.run("verdict", chromedp.Text(`#verdict`, &verdict, chromedp.ByQuery))
	if !strings.Contains(verdict, "not signed") || strings.Contains(verdict, "signed by") || strings.Contains(verdict, "SPF") {
		t.Errorf("verdict shown: %q", verdict)
	}
	b.screenshot("message")
	var original string
	b.eval(`fetch(document.getElementById('original').href).then(r => r.text())`, &original)
	if !strings.Contains(original, "Subject: Lunch on Friday?\r\n") || !strings.Contains(original, "Received: ") {
		t.Errorf("show original: %q", original)
	}

	// Reply: it reaches bob, threaded.
	b.run("reply", chromedp.Click(`#reply-btn`, chromedp.ByQuery), chromedp.WaitVisible(`#compose textarea`, chromedp.ByQuery))
	b.eval(`(() => { const t = document.querySelector('#compose textarea'); t.value = 'Noon works.\n' + t.value; return true })()`, nil)
	var to string
	b.run("reply to", chromedp.Value(`#compose input[name=to]`, &to, chromedp.ByQuery))
	if !strings.Contains(to, "bob@example.test") {
		t.Fatalf("reply goes to %q", to)
	}
	b.screenshot("compose")
	b.run("send reply", chromedp.Click(`#send-btn`, chromedp.ByQuery))
	b.until("compose closed", `!document.getElementById('compose')`)
	if e := findEmail(bob, "Re: Lunch on Friday?"); e == nil {
		t.Fatal("the reply did not reach bob")
	}
	// The conversation view counts the reply (in Sent) with the message.
	b.until("a conversation of two", `[...document.querySelectorAll('#messages .row')].some(r => r.querySelector('.subject').textContent === 'Lunch on Friday?' && r.querySelector('.count')?.textContent === '2')`)

	// A new message with an attachment; then download it from Sent.
	file := filepath.Join(t.TempDir(), "report.txt")
	os.WriteFile(file, []byte("quarterly numbers: 42\n"), 0o644)
	b.run("compose", chromedp.Click(`#compose-btn`, chromedp.ByQuery), chromedp.WaitVisible(`#compose input[name=to]`, chromedp.ByQuery),
		chromedp.SendKeys(`#compose input[name=to]`, "bob@example.test", chromedp.ByQuery),
		chromedp.SendKeys(`#compose input[name=subject]`, "Report", chromedp.ByQuery),
		chromedp.SendKeys(`#compose textarea`, "Attached.", chromedp.ByQuery),
		chromedp.SetUploadFiles(`#compose input[type=file]`, []string{file}, chromedp.ByQuery))
	b.until("attachment listed", `document.querySelector('#compose .files')?.textContent.includes('report.txt')`)
	b.until("bob in the address completion", `!!document.querySelector('#contacts option[value*="bob@example.test"]')`)
	b.run("send", chromedp.Click(`#send-btn`, chromedp.ByQuery))
	b.until("compose closed", `!document.getElementById('compose')`)
	if e := findEmail(bob, "Report"); e == nil || e["hasAttachment"] != true {
		t.Fatalf("bob's copy of Report: %v", e)
	}
	b.folder("sent")
	b.open("Report")
	var got string
	b.eval(`fetch(document.querySelector('.attachments a').href).then(r => r.text())`, &got)
	if got != "quarterly numbers: 42\n" {
		t.Fatalf("downloaded attachment %q", got)
	}
	// Forward by keyboard ("f"): the text inline, the message attached.
	b.run("f", chromedp.KeyEvent("f"), chromedp.WaitVisible(`#compose input[name=to]`, chromedp.ByQuery))
	b.until("forward filled", `document.querySelector('#compose input[name=subject]').value === 'Fwd: Report' && document.querySelector('#compose .files').textContent.includes('Report.eml') && document.querySelector('#compose textarea').value.includes('Attached.')`)
	b.run("forward to", chromedp.SendKeys(`#compose input[name=to]`, "bob@example.test", chromedp.ByQuery), chromedp.Click(`#send-btn`, chromedp.ByQuery))
	b.until("compose closed", `!document.getElementById('compose')`)
	if e := findEmail(bob, "Fwd: Report"); e == nil || e["hasAttachment"] != true {
		t.Fatalf("bob's forwarded copy: %v", e)
	}

	// Move to Junk (the "spam" button).
	b.folder("inbox")
	b.open("Lunch on Friday?")
	b.run("spam", chromedp.Click(`#spam-btn`, chromedp.ByQuery))
	b.until("gone from the inbox", "!"+listed("Lunch on Friday?"))
	kate := newJMAPClient(t, a, "kate@example.test")
	e := findEmail(kate, "Lunch on Friday?")
	if e == nil {
		t.Fatal("the message went away")
	}
	for id := range e["mailboxIds"].(map[string]any) {
		if r := mailboxRole(kate, id); r != "junk" {
			t.Fatalf("moved to %q, want junk", r)
		}
	}

	// Quick search finds the sent report from any folder.
	b.run("search", chromedp.SendKeys(`#q`, "quarterly\r", chromedp.ByQuery))
	b.until("search results", listed("Report"))

	// Change the password, then log out.
	b.run("settings", chromedp.Click(`#settings-btn`, chromedp.ByQuery), chromedp.WaitVisible(`#password-form`, chromedp.ByQuery),
		chromedp.SendKeys(`#password-form input[name=current]`, "pw", chromedp.ByQuery),
		chromedp.SendKeys(`#password-form input[name=new]`, "a new long password", chromedp.ByQuery),
		chromedp.Click(`#password-form button[type=submit]`, chromedp.ByQuery))
	b.until("password saved", `document.getElementById('password-status')?.textContent !== ''`)
	if _, err := a.Auth.Login(context.Background(), "kate@example.test", "a new long password", netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatalf("the new password does not work: %v", err)
	}
	// Still logged in (with the new session and CSRF token): a change works.
	b.run("logout", chromedp.Click(`#logout-btn`, chromedp.ByQuery), chromedp.WaitVisible(`#login input[name=username]`, chromedp.ByQuery))
	var status int
	b.eval(`fetch('/web/session').then(r => r.status)`, &status)
	if status != http.StatusUnauthorized {
		t.Fatalf("after logout /web/session answers %d", status)
	}
}

// tracker is a loopback web server that records every path asked of it:
// the "remote" images, styles, forms and frames of a hostile message.
type tracker struct {
	*httptest.Server
	mu   sync.Mutex
	hits []string
}

func newTracker(t *testing.T) *tracker {
	tr := &tracker{}
	tr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.hits = append(tr.hits, r.URL.Path)
		tr.mu.Unlock()
		w.Header().Set("Content-Type", "image/gif")
		w.Write([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	}))
	t.Cleanup(tr.Close)
	return tr
}

func (tr *tracker) seen() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.hits...)
}

// TestWebmailHostileHTML: a message whose HTML carries scripts, event
// handlers, javascript: links, CSS expressions, remote images, frames and
// a form is shown with none of them active, checked in the browser: no
// script changes the page's title or globals, nothing is fetched from the
// remote server until the user allows images, and then only the image.
func TestWebmailHostileHTML(t *testing.T) {
	a := startApp(t)
	tr := newTracker(t)
	u := tr.URL
	html := `<html><head><script>parent.document.title='pwned-head';document.title='pwned'</script>
<style>body{background:url(` + u + `/style-element.png)}</style><link rel="stylesheet" href="` + u + `/link.css">
<meta http-equiv="refresh" content="0;url=` + u + `/refresh"></head>
<body onload="parent.document.title='pwned-onload'">
<p>Hello <b>friend</b></p>
<img src="` + u + `/img.png" alt="tracker" onerror="parent.document.title='pwned-onerror'">
<a id="js" href="javascript:parent.document.title='pwned-link'">click me</a>
<div style="width: expression(alert(1)); background: url(` + u + `/style-attr.png)">css</div>
<form action="` + u + `/form" method="post"><input name="q" value="1"><button id="fb">Send</button></form>
<iframe src="` + u + `/frame"></iframe>
<svg onload="parent.pwned=2"><image href="` + u + `/svg.png"/></svg>
<script>window.top.pwned = 1; parent.document.title = 'pwned-body'</script>
</body></html>`
	deliverRaw(t, a, "kate@example.test", "From: ann@remote.test\r\nTo: kate@example.test\r\nSubject: Hostile\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"+html+"\r\n")
	b := newBrowser(t, a)
	b.login("kate@example.test", "pw")
	b.open("Hostile")
	b.until("viewer frame", `!!document.querySelector('iframe.body')`)
	frameText := func() string {
		var nodes []*cdp.Node
		b.run("frame", chromedp.Nodes(`iframe.body`, &nodes, chromedp.ByQuery))
		var text string
		for i := 0; i < 50; i++ { // bounded: the frame's document appears once loaded
			err := chromedp.Run(b.ctx, chromedp.Text(`body`, &text, chromedp.ByQuery, chromedp.FromNode(nodes[0]), chromedp.AtLeast(0)))
			if err == nil && strings.Contains(text, "Hello friend") {
				return text
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("the frame never showed the message (last text %q)", text)
		return ""
	}
	frameText()
	b.screenshot("hostile")
	var nodes []*cdp.Node
	b.run("frame", chromedp.Nodes(`iframe.body`, &nodes, chromedp.ByQuery))
	for _, sel := range []string{"script", "form", "input", "iframe", "body style", "link", "meta[http-equiv]", "[onload]", "[onerror]", `a[href^="javascript"]`, "[style]", "svg"} {
		var found []*cdp.Node
		b.run("query "+sel, chromedp.Nodes(sel, &found, chromedp.ByQueryAll, chromedp.FromNode(nodes[0]), chromedp.AtLeast(0)))
		if len(found) > 0 {
			t.Errorf("the shown message has %s", sel)
		}
	}
	var title string
	var pwned bool
	b.eval(`document.title`, &title)
	b.eval(`typeof window.pwned !== 'undefined'`, &pwned)
	if title != "pochta" || pwned {
		t.Errorf("a script of the message ran: title %q, pwned %v", title, pwned)
	}
	if hits := tr.seen(); len(hits) != 0 {
		t.Fatalf("remote content fetched before images were allowed: %v", hits)
	}
	// The viewer's page, as served, carries none of it either.
	var page string
	b.eval(`fetch(document.querySelector('iframe.body').src).then(r => r.text())`, &page)
	for _, bad := range []string{"<script", "onload", "onerror", "javascript:", "expression(", "<form", "<iframe", tr.URL} {
		if strings.Contains(strings.ToLower(page), strings.ToLower(bad)) {
			t.Errorf("sanitised page contains %q", bad)
		}
	}
	// Allowed: the image (and only the image) is fetched.
	b.run("show images", chromedp.Click(`#show-images`, chromedp.ByQuery))
	for i := 0; i < 100 && len(tr.seen()) == 0; i++ { // bounded wait for the image request
		time.Sleep(100 * time.Millisecond)
	}
	frameText()
	if hits := tr.seen(); len(hits) == 0 || hits[0] != "/img.png" {
		t.Fatalf("with images allowed the tracker saw %v, want /img.png", hits)
	}
	for _, h := range tr.seen() {
		if h != "/img.png" {
			t.Errorf("fetched %s", h)
		}
	}
	b.eval(`document.title`, &title)
	if title != "pochta" {
		t.Errorf("title changed to %q", title)
	}

	// On a phone-sized screen one pane shows at a time: the open message,
	// then (Back) the list.
	b.run("phone", chromedp.EmulateViewport(390, 844))
	b.until("only the message on a phone", `getComputedStyle(document.getElementById('list')).display === 'none' && getComputedStyle(document.getElementById('reader')).display !== 'none'`)
	b.run("back", chromedp.Click(`#reader .toolbar button.phone`, chromedp.ByQuery))
	b.until("only the list on a phone", `getComputedStyle(document.getElementById('reader')).display === 'none' && getComputedStyle(document.getElementById('list')).display !== 'none'`)
	b.screenshot("phone")
}
