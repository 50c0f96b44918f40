package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/store"
)

// webClient is a browser-like HTTP client of the webmail: a cookie jar,
// the CSRF token from the login, requests from the webmail's own origin.
type webClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
	acct string // JMAP accountId
}

func newWebClient(t *testing.T, a *App) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: "http://" + a.Addrs()["http"][0], c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// req sends a request with the given extra headers ("X-CSRF-Token" is
// added when csrf is set and headers do not name it) and decodes a JSON
// answer into out (when not nil).
func (w *webClient) req(method, path, ctype, body string, headers map[string]string, out any) *http.Response {
	w.t.Helper()
	r, err := http.NewRequest(method, w.base+path, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	r.Header.Set("Origin", w.base)
	if _, ok := headers["X-CSRF-Token"]; !ok && w.csrf != "" {
		r.Header.Set("X-CSRF-Token", w.csrf)
	}
	for k, v := range headers {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	resp, err := w.c.Do(r)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		json.Unmarshal(data, out)
	}
	return resp
}

func (w *webClient) login(user, pass, code string) (int, map[string]any) {
	w.t.Helper()
	form := url.Values{"username": {user}, "password": {pass}}
	if code != "" {
		form.Set("totp", code)
	}
	var out map[string]any
	resp := w.req("POST", "/web/login", "application/x-www-form-urlencoded", form.Encode(), nil, &out)
	if resp.StatusCode == http.StatusOK {
		w.csrf, _ = out["csrf"].(string)
		var sess struct{ PrimaryAccounts map[string]string }
		w.req("GET", "/jmap/session", "", "", nil, &sess)
		w.acct = sess.PrimaryAccounts["urn:ietf:params:jmap:mail"]
	}
	return resp.StatusCode, out
}

// jmap posts method calls and returns the HTTP status and the responses.
func (w *webClient) jmap(calls string, headers map[string]string) (int, []any) {
	w.t.Helper()
	var out struct{ MethodResponses []any }
	calls = strings.ReplaceAll(calls, `"accountId":null`, `"accountId":"`+w.acct+`"`)
	resp := w.req("POST", "/jmap/api", "application/json",
		`{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":`+calls+`}`, headers, &out)
	return resp.StatusCode, out.MethodResponses
}

func addAccount(t *testing.T, a *App, addr, pass string) {
	t.Helper()
	h, _ := auth.Hash(pass)
	if _, err := a.Store.AddAccount(context.Background(), addr, h); err != nil {
		t.Fatal(err)
	}
}

// TestWebmailSession: the login sets an HttpOnly, SameSite=Strict cookie
// (not Secure on plain http); with it JMAP answers, but a change needs the
// session's CSRF token from the webmail's own origin; logout ends the
// session on the server, "log out everywhere" every session.
func TestWebmailSession(t *testing.T) {
	a := startApp(t)
	w := newWebClient(t, a)
	if code, _ := w.login("kate@example.test", "wrong", ""); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	code, out := w.login("kate@example.test", "pw", "")
	if code != http.StatusOK || out["username"] != "kate@example.test" || w.csrf == "" {
		t.Fatalf("login: %d %v", code, out)
	}
	u, _ := url.Parse(w.base)
	cookies := w.c.Jar.Cookies(u)
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	// The jar hides the attributes: read them from a fresh login's header.
	resp := w.req("POST", "/web/login", "application/x-www-form-urlencoded", "username=kate%40example.test&password=pw", nil, nil)
	sc := resp.Header.Get("Set-Cookie")
	if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") || strings.Contains(sc, "Secure") {
		t.Fatalf("Set-Cookie: %s", sc)
	}
	w.login("kate@example.test", "pw", "") // the jar's session again, with its token

	get := `[["Mailbox/get",{"accountId":null},"0"]]`
	if code, _ := w.jmap(get, nil); code != http.StatusOK {
		t.Fatalf("JMAP with the session: %d", code)
	}
	for name, h := range map[string]map[string]string{
		"no token":     {"X-CSRF-Token": ""},
		"wrong token":  {"X-CSRF-Token": "x" + w.csrf},
		"other origin": {"Origin": "http://evil.test"},
		"cross-site":   {"Sec-Fetch-Site": "cross-site"},
	} {
		if code, _ := w.jmap(get, h); code != http.StatusUnauthorized {
			t.Errorf("JMAP POST with %s: %d, want 401", name, code)
		}
		if resp := w.req("POST", "/web/logout", "application/json", "{}", h, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("logout with %s: %d, want 401", name, resp.StatusCode)
		}
	}
	if resp := w.req("POST", "/web/login", "application/x-www-form-urlencoded", "username=kate%40example.test&password=pw",
		map[string]string{"Origin": "http://evil.test"}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin login: %d, want 403", resp.StatusCode)
	}
	// Still logged in after all that.
	if resp := w.req("GET", "/web/session", "", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("session after refused requests: %d", resp.StatusCode)
	}

	// Log out everywhere: a second browser's session ends too.
	w2 := newWebClient(t, a)
	if code, _ := w2.login("kate@example.test", "pw", ""); code != http.StatusOK {
		t.Fatal("second login")
	}
	if resp := w.req("POST", "/web/logout-all", "application/json", "{}", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout-all: %d", resp.StatusCode)
	}
	for i, c := range []*webClient{w, w2} {
		if resp := c.req("GET", "/web/session", "", "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("browser %d still logged in: %d", i, resp.StatusCode)
		}
		if code, _ := c.jmap(get, nil); code != http.StatusUnauthorized {
			t.Errorf("browser %d: JMAP still answers: %d", i, code)
		}
	}
	// Logout of one session.
	w.login("kate@example.test", "pw", "")
	if resp := w.req("POST", "/web/logout", "application/json", "{}", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp := w.req("GET", "/web/session", "", "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after logout: %d", resp.StatusCode)
	}
}

// TestWebmailOtherUsersMessages: a session reaches only its own account's
// messages, in JMAP and in the HTML viewer.
func TestWebmailOtherUsersMessages(t *testing.T) {
	a := startApp(t)
	addAccount(t, a, "bob@example.test", "bobpw")
	deliverRaw(t, a, "kate@example.test", "From: ann@remote.test\r\nSubject: private\r\nContent-Type: text/html\r\n\r\n<p>kate's secret</p>\r\n")
	kate, bob := newWebClient(t, a), newWebClient(t, a)
	kate.login("kate@example.test", "pw", "")
	bob.login("bob@example.test", "bobpw", "")
	_, res := kate.jmap(`[["Email/query",{"accountId":null},"q"],["Email/get",{"accountId":null,"#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},"properties":["id","blobId","htmlBody"]},"g"]]`, nil)
	g := res[1].([]any)[1].(map[string]any)["list"].([]any)
	if len(g) != 1 {
		t.Fatalf("kate's messages: %v", res)
	}
	email := g[0].(map[string]any)
	id := email["id"].(string)
	part := email["htmlBody"].([]any)[0].(map[string]any)["blobId"].(string)
	if resp := kate.req("GET", "/web/html/"+part, "", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("kate's own HTML part: %d", resp.StatusCode)
	}
	if resp := bob.req("GET", "/web/html/"+part, "", "", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob got kate's HTML part: %d", resp.StatusCode)
	}
	if resp := kate.req("GET", "/web/original/"+email["blobId"].(string), "", "", nil, nil); resp.StatusCode != http.StatusOK ||
		!strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("kate's original: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := bob.req("GET", "/web/original/"+email["blobId"].(string), "", "", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob got kate's original: %d", resp.StatusCode)
	}
	_, res = bob.jmap(`[["Email/get",{"accountId":null,"ids":["`+id+`"]},"g"],["Email/set",{"accountId":null,"destroy":["`+id+`"]},"d"]]`, nil)
	if nf := res[0].([]any)[1].(map[string]any)["notFound"].([]any); len(nf) != 1 {
		t.Errorf("bob's Email/get of kate's id: %v", res[0])
	}
	if nd, _ := res[1].([]any)[1].(map[string]any)["notDestroyed"].(map[string]any); len(nd) != 1 {
		t.Errorf("bob's Email/set destroy of kate's id: %v", res[1])
	}
	if resp := bob.req("GET", "/jmap/download/"+bob.acct+"/"+email["blobId"].(string)+"/x", "", "", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob downloaded kate's message: %d", resp.StatusCode)
	}
	_, res = kate.jmap(`[["Email/get",{"accountId":null,"ids":["`+id+`"],"properties":["id"]},"g"]]`, nil)
	if l := res[0].([]any)[1].(map[string]any)["list"].([]any); len(l) != 1 {
		t.Errorf("kate's message went: %v", res)
	}
}

// TestWebmailLoginRateLimit: failed webmail logins count toward the same
// per-IP cap as IMAP's; past it even the right password is refused.
func TestWebmailLoginRateLimit(t *testing.T) {
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.Limits.ConnectionLimitExceptions = []string{} // hold loopback to the per-IP limits
		c.Limits.AuthFailuresPerHourPerIP = 3
		c.Auth.FailureDelay = config.D(time.Millisecond)
		c.Auth.MaxFailureDelay = config.D(time.Millisecond)
	})
	w := newWebClient(t, a)
	imap := lineConn(t, a.Addrs()["imap"][0])
	imap.want("* OK")
	imap.cmd("a LOGIN kate@example.test wrong", "a NO")
	for i := 0; i < 2; i++ {
		if code, _ := w.login("kate@example.test", "wrong", ""); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	if code, out := w.login("kate@example.test", "pw", ""); code != http.StatusTooManyRequests {
		t.Fatalf("right password past the cap: %d %v", code, out)
	}
}

// TestWebmailTOTP: with a second factor on, the password alone is not
// enough; a wrong code is refused, the right one logs in.
func TestWebmailTOTP(t *testing.T) {
	a := startApp(t)
	w := newWebClient(t, a)
	w.login("kate@example.test", "pw", "")
	var k map[string]any
	w.req("POST", "/web/totp/new", "application/json", "{}", nil, &k)
	secret, _ := k["secret"].(string)
	if secret == "" || !strings.HasPrefix(k["qr"].(string), "data:image/png;base64,") {
		t.Fatalf("totp/new: %v", k)
	}
	if resp := w.req("POST", "/web/totp/enable", "application/json", `{"secret":"`+secret+`","code":"000000x"}`, nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("enable with a wrong code: %d", resp.StatusCode)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	var sess map[string]any
	if resp := w.req("POST", "/web/totp/enable", "application/json", `{"secret":"`+secret+`","code":"`+code+`"}`, nil, &sess); resp.StatusCode != http.StatusOK || sess["totp"] != true {
		t.Fatalf("enable: %d %v", resp.StatusCode, sess)
	}
	w2 := newWebClient(t, a)
	if st, out := w2.login("kate@example.test", "pw", ""); st != http.StatusUnauthorized || out["totp"] != true {
		t.Fatalf("password alone: %d %v", st, out)
	}
	if st, _ := w2.login("kate@example.test", "pw", "12345"); st != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", st)
	}
	code, _ = totp.GenerateCode(secret, time.Now())
	if st, out := w2.login("kate@example.test", "pw", code); st != http.StatusOK {
		t.Fatalf("right code: %d %v", st, out)
	}
}

// TestWebmailRedirect: where a password may not travel without TLS (here:
// plaintext on loopback turned off), plain http redirects to https; from
// loopback by default the webmail answers.
func TestWebmailRedirect(t *testing.T) {
	a := startAppWith(t, "kate@example.test", func(c *config.Config) { c.Auth.PlaintextOnLoopback = false })
	w := newWebClient(t, a)
	resp := w.req("GET", "/?x=1", "", "", nil, nil)
	if resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(resp.Header.Get("Location"), "https://127.0.0.1/?x=1") {
		t.Fatalf("GET / over plain http: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	b := newWebClient(t, startApp(t))
	resp = b.req("GET", "/", "", "", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET / from loopback: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestJMAPMoveTrainsSpam: moving an Email into Junk over JMAP (the
// webmail's "spam" button) trains the account's filter as an IMAP MOVE
// does, once, and marks it $Junk; out of Junk again it is ham, the spam
// count undone.
func TestJMAPMoveTrainsSpam(t *testing.T) {
	a := startApp(t)
	deliverSMTP(t, a, "kate@example.test", "cheap pills", "buy cheap pills now")
	c := newJMAPClient(t, a, "kate@example.test")
	acct, _ := a.Store.GetAccount(context.Background(), "kate@example.test")
	mbs := c.args(`[["Mailbox/get",{"accountId":"ACCT"},"m"]]`, "Mailbox/get")["list"].([]any)
	role := map[string]string{}
	for _, m := range mbs {
		mb := m.(map[string]any)
		if r, ok := mb["role"].(string); ok {
			role[r] = mb["id"].(string)
		}
	}
	move := func(subject, to string) map[string]any {
		t.Helper()
		e := findEmail(c, subject)
		id := c.args(`[["Email/query",{"accountId":"ACCT"},"q"]]`, "Email/query")["ids"].([]any)[0].(string)
		set := c.args(`[["Email/set",{"accountId":"ACCT","update":{"`+id+`":{"mailboxIds":{"`+role[to]+`":true}}}},"s"]]`, "Email/set")
		if len(set["updated"].(map[string]any)) != 1 || e == nil {
			t.Fatalf("move to %s: %v", to, set)
		}
		return findEmail(c, subject)
	}
	totals := func() store.TokenCounts {
		tc, _, err := a.Store.SpamTokens(context.Background(), acct.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tc
	}
	e := move("cheap pills", "junk")
	if kw := e["keywords"].(map[string]any); kw["$junk"] != true || kw["$notjunk"] != nil {
		t.Fatalf("keywords after the move into Junk: %v", kw)
	}
	if got := totals(); got.Spam != 1 || got.Ham != 0 {
		t.Fatalf("after the move into Junk: %+v", got)
	}
	e = move("cheap pills", "inbox")
	if kw := e["keywords"].(map[string]any); kw["$notjunk"] != true || kw["$junk"] != nil {
		t.Fatalf("keywords after the move out of Junk: %v", kw)
	}
	if got := totals(); got.Spam != 0 || got.Ham != 1 {
		t.Fatalf("after the move out of Junk: %+v", got)
	}
	move("cheap pills", "trash") // deleting says nothing
	if got := totals(); got.Spam != 0 || got.Ham != 1 {
		t.Fatalf("after the move to Trash: %+v", got)
	}
}

// TestWebmailSettings: app passwords made in the webmail log in to IMAP
// and stop when removed; the password change wants the current main
// password; signature and language are kept.
func TestWebmailSettings(t *testing.T) {
	a := startApp(t)
	w := newWebClient(t, a)
	w.login("kate@example.test", "pw", "")
	var made map[string]any
	if resp := w.req("POST", "/web/app-passwords", "application/json", `{"name":"phone"}`, nil, &made); resp.StatusCode != http.StatusOK {
		t.Fatalf("add app password: %d %v", resp.StatusCode, made)
	}
	secret, _ := made["password"].(string)
	if resp := w.req("POST", "/web/app-passwords", "application/json", `{"name":"phone"}`, nil, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("same name again: %d", resp.StatusCode)
	}
	var list []map[string]any
	w.req("GET", "/web/app-passwords", "", "", nil, &list)
	if len(list) != 1 || list[0]["name"] != "phone" {
		t.Fatalf("app passwords %v", list)
	}
	imap := lineConn(t, a.Addrs()["imap"][0])
	imap.want("* OK")
	imap.cmd(`a LOGIN kate@example.test "`+secret+`"`, "a OK")
	w.req("POST", "/web/app-passwords/delete", "application/json", `{"name":"phone"}`, nil, nil)
	imap2 := lineConn(t, a.Addrs()["imap"][0])
	imap2.want("* OK")
	imap2.cmd(`a LOGIN kate@example.test "`+secret+`"`, "a NO")

	for _, c := range []struct {
		body string
		want int
	}{
		{`{"current":"wrong","new":"long enough 1"}`, http.StatusForbidden},
		{`{"current":"pw","new":"short"}`, http.StatusBadRequest},
		{`{"current":"pw","new":"long enough 1"}`, http.StatusOK},
	} {
		var out map[string]any
		if resp := w.req("POST", "/web/password", "application/json", c.body, nil, &out); resp.StatusCode != c.want {
			t.Errorf("password change %s: %d, want %d", c.body, resp.StatusCode, c.want)
		}
		if c.want == http.StatusOK {
			// Every session ended with the change but this one, renewed
			// (a new cookie and token).
			w.csrf, _ = out["csrf"].(string)
		}
	}
	if code, _ := newWebClient(t, a).login("kate@example.test", "pw", ""); code != http.StatusUnauthorized {
		t.Errorf("the old password still logs in: %d", code)
	}
	if code, _ := newWebClient(t, a).login("kate@example.test", "long enough 1", ""); code != http.StatusOK {
		t.Errorf("the new password does not log in: %d", code)
	}

	var sess map[string]any
	if resp := w.req("POST", "/web/settings", "application/json", `{"signature":"Kate\nexample","language":"ru"}`, nil, &sess); resp.StatusCode != http.StatusOK {
		t.Fatalf("settings: %d (the session after the password change must work)", resp.StatusCode)
	}
	w.req("GET", "/web/session", "", "", nil, &sess)
	if sess["signature"] != "Kate\nexample" || sess["language"] != "ru" {
		t.Errorf("settings kept: %v", sess)
	}
	if resp := w.req("POST", "/web/settings", "application/json", `{"language":"xx"}`, nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown language: %d", resp.StatusCode)
	}
}
