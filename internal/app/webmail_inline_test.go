package app

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestWebmailInlineImages: the HTML viewer of a multipart/related message
// delivered over SMTP carries its cid: image as a data: URL (the sandboxed
// frame could not fetch it with the session cookie), and another user
// cannot read the page.
func TestWebmailInlineImages(t *testing.T) {
	a := startApp(t)
	addAccount(t, a, "lena@example.test", "pw2")
	raw, err := os.ReadFile("../web/testdata/inline/related.eml")
	if err != nil {
		t.Fatal(err)
	}
	if err := sendPlain(a.Addrs()["smtp"][0], "a@remote.test", "kate@example.test", string(raw)); err != nil {
		t.Fatal(err)
	}
	w := newWebClient(t, a)
	if code, _ := w.login("kate@example.test", "pw", ""); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	_, out := w.jmap(`[["Email/query",{"accountId":null},"q"],["Email/get",{"accountId":null,"#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},"properties":["htmlBody"]},"g"]]`, nil)
	list := out[1].([]any)[1].(map[string]any)["list"].([]any)
	blob := list[0].(map[string]any)["htmlBody"].([]any)[0].(map[string]any)["blobId"].(string)
	get := func(c *webClient) (int, string) {
		r, _ := http.NewRequest("GET", c.base+"/web/html/"+blob, nil)
		resp, err := c.c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, page := get(w)
	if code != http.StatusOK || !strings.Contains(page, `id="logo" src="data:image/png;base64,iVBOR`) || strings.Contains(page, "cid:") {
		t.Fatalf("viewer: %d\n%s", code, page)
	}
	other := newWebClient(t, a)
	other.login("lena@example.test", "pw2", "")
	if code, _ := get(other); code != http.StatusNotFound {
		t.Fatalf("another user's page: %d", code)
	}
}
