package app

import (
	"context"
	"net/http"
	"testing"
)

// TestDisabledAccount: `pochta user disable` (manage.SetDisabled) refuses
// the account's logins on IMAP, POP3, SMTP AUTH and JMAP while its mail
// is still delivered; enabled again, it logs in everywhere.
func TestDisabledAccount(t *testing.T) {
	a := startApp(t)
	ctx := context.Background()
	if err := a.Manager().SetDisabled(ctx, "kate@example.test", true); err != nil {
		t.Fatal(err)
	}
	imapLogin(t, a, "kate@example.test", "pw", "NO")
	pop3Login(t, a, "kate@example.test", "pw", "-ERR")
	smtpLogin(t, a, "kate@example.test", "pw", 535)
	jmap := func(want int) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+a.Addrs()["http"][0]+"/jmap/session", nil)
		req.SetBasicAuth("kate@example.test", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("JMAP session: %d, want %d", resp.StatusCode, want)
		}
	}
	jmap(http.StatusUnauthorized)

	// Mail to a disabled account is still delivered (it keeps its mailbox).
	msg := "From: <x@remote.test>\r\nTo: <kate@example.test>\r\nSubject: still here\r\n\r\nhello\r\n"
	if err := sendPlain(a.Addrs()["smtp"][0], "x@remote.test", "kate@example.test", msg); err != nil {
		t.Fatalf("delivery to a disabled account: %v", err)
	}
	acct, _ := a.Store.GetAccount(ctx, "kate@example.test")
	inbox, err := a.Store.GetMailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := a.Store.Status(ctx, inbox.ID); err != nil || st.Messages != 1 {
		t.Fatalf("INBOX of the disabled account: %+v %v", st, err)
	}

	if err := a.Manager().SetDisabled(ctx, "kate@example.test", false); err != nil {
		t.Fatal(err)
	}
	imapLogin(t, a, "kate@example.test", "pw", "OK")
	pop3Login(t, a, "kate@example.test", "pw", "+OK")
	smtpLogin(t, a, "kate@example.test", "pw", 235)
	jmap(http.StatusOK)
}
