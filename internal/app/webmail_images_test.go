package app

import (
	"net/http"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestWebmailImageSenders: "always show images from this sender" is kept
// on the server: the session lists the senders, another browser of the
// same account sees them, removing one takes it out; a change needs the
// CSRF token and an address.
func TestWebmailImageSenders(t *testing.T) {
	a := startApp(t)
	w := newWebClient(t, a)
	if code, _ := w.login("kate@example.test", "pw", ""); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	senders := func(c *webClient) []string {
		var s struct{ ImageSenders []string }
		c.req("GET", "/web/session", "", "", nil, &s)
		return s.ImageSenders
	}
	if got := senders(w); got == nil || len(got) != 0 {
		t.Fatalf("no senders yet: %#v", got)
	}
	for _, s := range []string{"News@Shop.test", "friend@remote.test", "news@shop.test"} {
		if resp := w.req("POST", "/web/remote-images", "application/json", `{"sender":"`+s+`","allow":true}`, nil, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("allow %s: %d", s, resp.StatusCode)
		}
	}
	other := newWebClient(t, a)
	other.login("kate@example.test", "pw", "")
	if got := senders(other); !slices.Equal(got, []string{"friend@remote.test", "news@shop.test"}) {
		t.Fatalf("senders in another browser: %q", got)
	}
	w.req("POST", "/web/remote-images", "application/json", `{"sender":"friend@remote.test","allow":false}`, nil, nil)
	if got := senders(w); !slices.Equal(got, []string{"news@shop.test"}) {
		t.Fatalf("after removal: %q", got)
	}
	if resp := w.req("POST", "/web/remote-images", "application/json", `{"sender":"x@y.test","allow":true}`, map[string]string{"X-CSRF-Token": ""}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the CSRF token: %d", resp.StatusCode)
	}
	if resp := w.req("POST", "/web/remote-images", "application/json", `{"sender":"nobody","allow":true}`, nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("not an address: %d", resp.StatusCode)
	}
}

// TestWebmailBrowserImageSender: in the browser, remote images are blocked
// until "always show images from" the sender; the next message of that
// sender opens with them, after a reload too.
func TestWebmailBrowserImageSender(t *testing.T) {
	a := startApp(t)
	for _, subj := range []string{"first look", "second look"} {
		msg := "From: <news@shop.test>\r\nTo: <kate@example.test>\r\nSubject: " + subj + "\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>hi <img src=\"http://127.0.0.1:9/x.png\"></p>\r\n"
		if err := sendPlain(a.Addrs()["smtp"][0], "news@shop.test", "kate@example.test", msg); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, a)
	b.login("kate@example.test", "pw")
	frame := `document.querySelector('#reader iframe.body').getAttribute('src')`
	b.open("first look")
	b.until("images blocked", `!!document.getElementById('always-images') && !`+frame+`.includes('images=1')`)
	b.click("always show", `#always-images`, chromedp.ByQuery)
	b.until("images shown", frame+`.includes('images=1') && !!document.getElementById('never-images')`)
	b.run("reload", chromedp.Reload(), chromedp.WaitVisible(`#folders .folder`, chromedp.ByQuery))
	b.open("second look")
	b.until("images shown for the sender", frame+`.includes('images=1')`)
}
