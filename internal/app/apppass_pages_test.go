package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/store"
)

// TestAppPasswordsDoNotOpenAccountPages: an app password — unlimited or
// limited to JMAP — logs in to IMAP and JMAP but opens neither the web
// admin nor the webmail, which take the account's real password.
func TestAppPasswordsDoNotOpenAccountPages(t *testing.T) {
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.Auth.FailureDelay, c.Auth.MaxFailureDelay = config.D(time.Millisecond), config.D(time.Millisecond)
		c.Listen.ManageSieve = []string{"127.0.0.1:0"}
	})
	ctx := context.Background()
	m := a.Manager()
	if err := m.SetAdmin(ctx, "kate@example.test", true); err != nil {
		t.Fatal(err)
	}
	kate, err := a.Store.GetAccount(ctx, "kate@example.test")
	if err != nil {
		t.Fatal(err)
	}
	add := func(name string, protos ...string) string {
		secret := auth.GenerateAppPassword()
		if _, err := a.Store.AddAppPassword(ctx, store.AppPassword{AccountID: kate.ID, Name: name, Hash: auth.AppPasswordHash(secret), Protocols: protos}); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	all, jmapOnly, sieveOnly := add("any"), add("jmap", auth.ProtoJMAP), add("sieve", auth.ProtoManageSieve)

	for _, pw := range []string{all, jmapOnly} {
		if code, _ := newWebClient(t, a).login("kate@example.test", pw, ""); code != http.StatusUnauthorized {
			t.Errorf("webmail login with an app password: %d, want 401", code)
		}
		if code := adminLogin(t, a, "kate@example.test", pw); code != http.StatusUnauthorized {
			t.Errorf("admin login with an app password: %d, want 401", code)
		}
	}
	if code, _ := newWebClient(t, a).login("kate@example.test", "pw", ""); code != http.StatusOK {
		t.Errorf("webmail login with the real password: %d", code)
	}
	if code := adminLogin(t, a, "kate@example.test", "pw"); code != http.StatusSeeOther {
		t.Errorf("admin login with the real password: %d, want 303", code)
	}
	// The app passwords still do what they are for.
	imapLogin(t, a, "kate@example.test", all, "OK")
	req, _ := http.NewRequest("GET", "http://"+a.Addrs()["http"][0]+"/jmap/session", nil)
	req.SetBasicAuth("kate@example.test", jmapOnly)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("JMAP with its app password: %d", resp.StatusCode)
	}
	// ManageSieve logs in as its protocol: an app password limited to it
	// works there, one limited to JMAP does not.
	for pw, want := range map[string]string{sieveOnly: "OK", jmapOnly: "NO"} {
		conn, r := dialText(t, a, "managesieve")
		for { // the rest of the greeting
			line, err := r.ReadLine()
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(line, "OK") {
				break
			}
		}
		fmt.Fprintf(conn, "AUTHENTICATE \"PLAIN\" \"%s\"\r\n", base64.StdEncoding.EncodeToString([]byte("\x00kate@example.test\x00"+pw)))
		if line, _ := r.ReadLine(); !strings.HasPrefix(line, want) {
			t.Errorf("ManageSieve login with an app password: %q, want %s", line, want)
		}
	}
}

var adminCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// adminLogin posts the web admin's login form as a browser would and
// returns the answer's status (303 to /admin/ on success).
func adminLogin(t *testing.T, a *App, user, pass string) int {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "http://" + a.Addrs()["http"][0]
	resp, err := c.Get(base + "/admin/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := adminCSRF.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the admin's login page:\n%s", page)
	}
	form := url.Values{"csrf": {string(m[1])}, "username": {user}, "password": {pass}}
	req, _ := http.NewRequest("POST", base+"/admin/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
