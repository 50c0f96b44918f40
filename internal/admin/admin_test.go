package admin

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/manage"
	"pochta/internal/store"
	"pochta/internal/store/sqlite"
)

// env is the admin on a loopback HTTP server over a real store, with a
// real Authenticator: boss@example.test is an admin, kate@ is not (both
// have password "pw").
type env struct {
	t   *testing.T
	st  *sqlite.Store
	srv *httptest.Server
}

func newEnv(t *testing.T) *env { return newEnvWith(t, auth.Options{}) }

// newEnvWith is newEnv with auth options (FailureDelay, Flags and
// PlaintextOnLoopback are set here).
func newEnvWith(t *testing.T, opts auth.Options) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir+"/store")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.Hostname, cfg.DataDir = "mx.example.test", dir
	m := &manage.Manager{Store: st, Config: cfg}
	if _, err := m.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddAccount(ctx, "boss@example.test", "pw", true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddAccount(ctx, "kate@example.test", "pw", false); err != nil {
		t.Fatal(err)
	}
	opts.FailureDelay, opts.Flags, opts.PlaintextOnLoopback = time.Millisecond, st, true
	a := auth.New(st, opts)
	s, err := New(Options{Manager: m, Login: a.For(auth.ProtoAdmin), IsAdmin: a.IsAdmin, PlaintextAllowed: a.PlaintextAllowed})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, st: st, srv: srv}
}

// client is a browser-like client: cookies, no automatic redirects.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) do(c *http.Client, method, path string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, html string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no CSRF token in\n%s", html)
	}
	return m[1]
}

// login logs c in as user and returns the session's CSRF token.
func (e *env) login(c *http.Client, user string) (*http.Response, string) {
	e.t.Helper()
	_, page := e.do(c, "GET", "/admin/login", nil)
	resp, body := e.do(c, "POST", "/admin/login", url.Values{"csrf": {csrfOf(e.t, page)}, "username": {user}, "password": {"pw"}})
	return resp, body
}

// TestLoginAndCSRF: an admin logs in (cookie HttpOnly, SameSite=Strict,
// no Secure over plain loopback); a non-admin and a wrong password are
// refused; POSTs without the session's token, with another token or
// from another origin are refused and change nothing; with the token
// the change is made; every page carries the CSP.
func TestLoginAndCSRF(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	anon := e.client()
	resp, _ := e.do(anon, "GET", "/admin/", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Fatalf("anonymous dashboard: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = e.do(anon, "POST", "/admin/login", url.Values{"username": {"boss@example.test"}, "password": {"pw"}})
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Fatalf("login without the form's token: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}

	kate := e.client()
	resp, body := e.login(kate, "kate@example.test")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "may not use the admin") {
		t.Fatalf("non-admin login: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := e.do(kate, "GET", "/admin/accounts", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("non-admin reached the accounts page: %d", resp.StatusCode)
	}
	wrong := e.client()
	_, page := e.do(wrong, "GET", "/admin/login", nil)
	resp, _ = e.do(wrong, "POST", "/admin/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"boss@example.test"}, "password": {"nope"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}

	boss := e.client()
	resp, _ = e.login(boss, "boss@example.test")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" {
		t.Fatalf("admin login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Secure || sc.Path != "/admin/" {
		t.Fatalf("session cookie %+v", sc)
	}
	resp, page = e.do(boss, "GET", "/admin/domains", nil)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("domains page: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	token := csrfOf(t, page)

	for name, form := range map[string]url.Values{
		"no token":    {"action": {"add"}, "name": {"evil.test"}},
		"wrong token": {"action": {"add"}, "name": {"evil.test"}, "csrf": {"x" + token}},
	} {
		resp, body := e.do(boss, "POST", "/admin/domains", form)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Fatalf("%s: %d\n%s", name, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/admin/domains", strings.NewReader(url.Values{"action": {"add"}, "name": {"evil.test"}, "csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := boss.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin POST: %v %v", resp, err)
	}
	if _, err := e.st.GetDomain(ctx, "evil.test"); err == nil {
		t.Fatal("a refused POST added the domain")
	}

	resp, _ = e.do(boss, "POST", "/admin/domains", url.Values{"action": {"add"}, "name": {"New.Test"}, "csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/domains/new.test" {
		t.Fatalf("add domain: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := e.st.GetDomain(ctx, "new.test"); err != nil {
		t.Fatalf("domain not added: %v", err)
	}
	_, page = e.do(boss, "GET", "/admin/domains/new.test", nil)
	if !strings.Contains(page, "Domain new.test added") || !strings.Contains(page, "new.test. IN MX 10 mx.example.test.") {
		t.Fatalf("domain page:\n%s", page)
	}

	// The admin disables kate through the same function as the CLI: she
	// can no longer log in anywhere.
	resp, _ = e.do(boss, "POST", "/admin/accounts", url.Values{"action": {"disable"}, "address": {"kate@example.test"}, "csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	acct, _ := e.st.GetAccount(ctx, "kate@example.test")
	if f, err := e.st.AccountFlags(ctx, acct.ID); err != nil || !f.Disabled {
		t.Fatalf("kate's flags %+v %v", f, err)
	}

	// Taking the admin flag away ends the session at its next request.
	bossAcct, _ := e.st.GetAccount(ctx, "boss@example.test")
	if err := e.st.SetAccountFlags(ctx, bossAcct.ID, store.AccountFlags{}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.do(boss, "GET", "/admin/domains", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("former admin's session still works: %d", resp.StatusCode)
	}
}

// TestLoginRateLimited: the admin's login shares the per-IP cap on
// failed logins with every protocol: past it, even the right password
// is answered 429.
func TestLoginRateLimited(t *testing.T) {
	e := newEnvWith(t, auth.Options{MaxFailuresPerHour: 2})
	c := e.client()
	for i := 0; i < 2; i++ {
		_, page := e.do(c, "GET", "/admin/login", nil)
		resp, _ := e.do(c, "POST", "/admin/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {"boss@example.test"}, "password": {"wrong"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := e.login(c, "boss@example.test")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many attempts") {
		t.Fatalf("login past the cap: %d\n%s", resp.StatusCode, body)
	}
}

// TestActions: aliases, quota, password reset, DKIM keys and the admin
// flag through the admin's forms, checked in the store; an admin cannot
// take the flag from itself; bad input comes back as an error message.
func TestActions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client()
	e.login(c, "boss@example.test")
	_, page := e.do(c, "GET", "/admin/aliases", nil)
	token := csrfOf(t, page)
	post := func(path string, form url.Values) string {
		t.Helper()
		form.Set("csrf", token)
		resp, _ := e.do(c, "POST", path, form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s %v: %d", path, form, resp.StatusCode)
		}
		_, page := e.do(c, "GET", resp.Header.Get("Location"), nil)
		return page
	}

	page = post("/admin/aliases", url.Values{"action": {"add"}, "address": {"sales@example.test"}, "targets": {"kate@example.test, bob@remote.test"}})
	if al, err := e.st.GetAlias(ctx, "sales@example.test"); err != nil || strings.Join(al.Targets, ",") != "kate@example.test,bob@remote.test" {
		t.Fatalf("alias %+v %v", al, err)
	}
	if !strings.Contains(page, "kate@example.test, bob@remote.test") {
		t.Fatalf("aliases page:\n%s", page)
	}
	page = post("/admin/aliases", url.Values{"action": {"add"}, "address": {"x@nowhere.test"}, "targets": {"kate@example.test"}})
	if !strings.Contains(page, `id="error"`) {
		t.Fatalf("alias in an unknown domain: no error shown\n%s", page)
	}
	post("/admin/aliases", url.Values{"action": {"remove"}, "address": {"sales@example.test"}})
	if _, err := e.st.GetAlias(ctx, "sales@example.test"); err == nil {
		t.Fatal("alias not removed")
	}

	post("/admin/accounts", url.Values{"action": {"quota"}, "address": {"kate@example.test"}, "quota": {"10M"}})
	if a, _ := e.st.GetAccount(ctx, "kate@example.test"); a.QuotaBytes != 10<<20 {
		t.Fatalf("quota %d", a.QuotaBytes)
	}
	post("/admin/accounts", url.Values{"action": {"password"}, "address": {"kate@example.test"}, "password": {"new-secret"}})
	a, _ := e.st.GetAccount(ctx, "kate@example.test")
	if !auth.Verify(a.PasswordHash, "new-secret") {
		t.Fatal("password not changed")
	}
	post("/admin/accounts", url.Values{"action": {"admin"}, "address": {"kate@example.test"}})
	if f, _ := e.st.AccountFlags(ctx, a.ID); !f.Admin {
		t.Fatal("kate is not an admin")
	}
	page = post("/admin/accounts", url.Values{"action": {"unadmin"}, "address": {"boss@example.test"}})
	if !strings.Contains(page, "cannot take the admin flag from yourself") {
		t.Fatalf("self-demotion:\n%s", page)
	}

	page = post("/admin/dkim", url.Values{"domain": {"example.test"}, "selector": {"s1"}, "algo": {"ed25519"}})
	if !strings.Contains(page, "s1._domainkey.example.test") || !strings.Contains(page, "v=DKIM1; k=ed25519; p=") {
		t.Fatalf("DKIM page:\n%s", page)
	}
	// (The queue pages need a queue: TestAdminInBrowser in internal/app.)
	if _, page = e.do(c, "GET", "/admin/", nil); !strings.Contains(page, "<b>1 / 2</b><span>domains / accounts</span>") {
		t.Fatalf("dashboard:\n%s", page)
	}
}
