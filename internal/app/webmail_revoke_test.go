package app

import (
	"context"
	"net/http"
	"testing"
)

// TestWebmailSessionDisabled: a webmail session of an account disabled
// (`pochta user disable`, the admin) stops working at once, for JMAP and
// the webmail's own endpoints; enabled again before it expires, it works.
func TestWebmailSessionDisabled(t *testing.T) {
	a := startApp(t)
	ctx := context.Background()
	w := newWebClient(t, a)
	if code, _ := w.login("kate@example.test", "pw", ""); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	get := `[["Mailbox/get",{"accountId":null},"0"]]`
	check := func(want int) {
		t.Helper()
		if code, _ := w.jmap(get, nil); code != want {
			t.Errorf("JMAP: %d, want %d", code, want)
		}
		if resp := w.req("GET", "/web/session", "", "", nil, nil); resp.StatusCode != want {
			t.Errorf("/web/session: %d, want %d", resp.StatusCode, want)
		}
	}
	check(http.StatusOK)
	if err := a.Manager().SetDisabled(ctx, "kate@example.test", true); err != nil {
		t.Fatal(err)
	}
	check(http.StatusUnauthorized)
	if code, _ := newWebClient(t, a).login("kate@example.test", "pw", ""); code != http.StatusUnauthorized {
		t.Errorf("login of the disabled account: %d", code)
	}
	if err := a.Manager().SetDisabled(ctx, "kate@example.test", false); err != nil {
		t.Fatal(err)
	}
	check(http.StatusOK)
}

// TestWebmailSessionPasswordChanged: a password changed from the CLI or
// the web admin (manage.SetPassword) ends every webmail session of the
// account; another account's sessions go on.
func TestWebmailSessionPasswordChanged(t *testing.T) {
	a := startApp(t)
	addAccount(t, a, "lena@example.test", "pw2")
	kate1, kate2, lena := newWebClient(t, a), newWebClient(t, a), newWebClient(t, a)
	for _, c := range []struct {
		w          *webClient
		user, pass string
	}{{kate1, "kate@example.test", "pw"}, {kate2, "kate@example.test", "pw"}, {lena, "lena@example.test", "pw2"}} {
		if code, _ := c.w.login(c.user, c.pass, ""); code != http.StatusOK {
			t.Fatalf("login %s: %d", c.user, code)
		}
	}
	if _, err := a.Manager().SetPassword(context.Background(), "kate@example.test", "new password 1"); err != nil {
		t.Fatal(err)
	}
	get := `[["Mailbox/get",{"accountId":null},"0"]]`
	for i, w := range []*webClient{kate1, kate2} {
		if code, _ := w.jmap(get, nil); code != http.StatusUnauthorized {
			t.Errorf("kate's session %d after the password change: JMAP %d", i+1, code)
		}
		if resp := w.req("GET", "/web/session", "", "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("kate's session %d after the password change: /web/session %d", i+1, resp.StatusCode)
		}
	}
	if code, _ := lena.jmap(get, nil); code != http.StatusOK {
		t.Errorf("lena's session: %d", code)
	}
	if code, _ := kate1.login("kate@example.test", "pw", ""); code != http.StatusUnauthorized {
		t.Errorf("old password: %d", code)
	}
	if code, _ := kate1.login("kate@example.test", "new password 1", ""); code != http.StatusOK {
		t.Errorf("new password: %d", code)
	}
}
