package app

import (
	"context"
	"io"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/sieve"
)

// TestJMAPVacationResponse: VacationResponse/set turns the Sieve vacation
// of the account on (a generated block in the active script, a new script
// with the default rule when there is none) and off, keeping subject and
// text; a message from another user then gets the reply; a user's own
// active script keeps its rules, with the block after its requires.
func TestJMAPVacationResponse(t *testing.T) {
	a := startApp(t)
	ctx := context.Background()
	h, _ := auth.Hash("pw")
	bob, err := a.Store.AddAccount(ctx, "bob@example.test", h)
	if err != nil {
		t.Fatal(err)
	}
	kate, err := a.Store.GetAccount(ctx, "kate@example.test")
	if err != nil {
		t.Fatal(err)
	}
	c := newJMAPClient(t, a, "kate@example.test")
	using := `"urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail","urn:ietf:params:jmap:vacationresponse"`
	call := func(methodCalls string) map[string]any {
		t.Helper()
		code, out := c.post(`{"using":[` + using + `],"methodCalls":` + strings.ReplaceAll(methodCalls, "ACCT", c.acct) + `}`)
		if code != 200 {
			t.Fatalf("status %d: %v", code, out)
		}
		r := out["methodResponses"].([]any)[0].([]any)
		if r[0] == "error" {
			t.Fatalf("error: %v", r[1])
		}
		return r[1].(map[string]any)
	}
	get := func() map[string]any {
		t.Helper()
		l := call(`[["VacationResponse/get",{"accountId":"ACCT"},"g"]]`)["list"].([]any)
		return l[0].(map[string]any)
	}
	if v := get(); v["id"] != "singleton" || v["isEnabled"] != false || v["subject"] != nil {
		t.Fatalf("initial VacationResponse: %v", v)
	}
	set := call(`[["VacationResponse/set",{"accountId":"ACCT","update":{"singleton":{"isEnabled":true,"subject":"Away \"now\"","textBody":"Back on Monday."}}},"s"]]`)
	if _, ok := set["updated"].(map[string]any)["singleton"]; !ok || set["oldState"] == set["newState"] {
		t.Fatalf("VacationResponse/set: %v", set)
	}
	sc, err := a.Store.ActiveSieveScript(ctx, kate.ID)
	if err != nil || !strings.Contains(sc.Content, "vacation") || !strings.Contains(sc.Content, `"X-Spam"`) {
		t.Fatalf("active script %q: %v", sc.Content, err)
	}
	if v := get(); v["isEnabled"] != true || v["subject"] != `Away "now"` || v["textBody"] != "Back on Monday." {
		t.Fatalf("VacationResponse after set: %v", v)
	}
	// Dates are refused: the Sieve here cannot test them.
	bad := call(`[["VacationResponse/set",{"accountId":"ACCT","update":{"singleton":{"fromDate":"2026-12-24T00:00:00Z"}}},"s"]]`)
	if bad["notUpdated"].(map[string]any)["singleton"] == nil {
		t.Fatalf("fromDate accepted: %v", bad)
	}

	// bob writes to kate and gets the reply in his INBOX.
	sc2, err := smtp.Dial(a.Addrs()["smtp"][0])
	if err != nil {
		t.Fatal(err)
	}
	if err := sendFromTo(sc2, "bob@example.test", "kate@example.test", []byte("From: bob@example.test\r\nTo: kate@example.test\r\nSubject: Hi\r\nMessage-ID: <hi@example.test>\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	sc2.Quit()
	inbox, err := a.Store.GetMailbox(ctx, bob.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var reply string
	for deadline := time.Now().Add(10 * time.Second); reply == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if uids, err := a.Store.UIDs(ctx, inbox.ID); err == nil && len(uids) > 0 {
			rc, err := a.Store.Open(ctx, inbox.ID, uids[0])
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			reply = string(b)
		}
	}
	if !strings.Contains(reply, `Away "now"`) || !strings.Contains(reply, "Back on Monday.") {
		t.Fatalf("vacation reply: %q", reply)
	}

	// Off: the settings stay, the action goes.
	call(`[["VacationResponse/set",{"accountId":"ACCT","update":{"singleton":{"isEnabled":false}}},"s"]]`)
	sc, _ = a.Store.ActiveSieveScript(ctx, kate.ID)
	if strings.Contains(sc.Content, "require \"vacation\"") {
		t.Fatalf("disabled, the script still replies: %q", sc.Content)
	}
	if v := get(); v["isEnabled"] != false || v["textBody"] != "Back on Monday." {
		t.Fatalf("VacationResponse after disabling: %v", v)
	}

	// A user's own script: its rules stay, the block goes after its requires.
	own := "# mine\nrequire [\"fileinto\"];\r\nrequire \"imap4flags\";\nif header :contains \"Subject\" \"invoice\" { fileinto \"Archive\"; }\n"
	if err := a.Store.PutSieveScript(ctx, kate.ID, "mine", own); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.ActivateSieveScript(ctx, kate.ID, "mine"); err != nil {
		t.Fatal(err)
	}
	call(`[["VacationResponse/set",{"accountId":"ACCT","update":{"singleton":{"isEnabled":true,"textBody":"Out."}}},"s"]]`)
	sc, err = a.Store.ActiveSieveScript(ctx, kate.ID)
	if err != nil || sc.Name != "mine" || !strings.HasPrefix(sc.Content, "# mine\nrequire [\"fileinto\"];\r\nrequire \"imap4flags\";\n# BEGIN pochta") ||
		!strings.HasSuffix(sc.Content, "{ fileinto \"Archive\"; }\n") {
		t.Fatalf("user's script with vacation: %q %v", sc.Content, err)
	}
	if _, err := sieve.Parse(sc.Content); err != nil {
		t.Fatal(err)
	}
	call(`[["VacationResponse/set",{"accountId":"ACCT","update":{"singleton":{"isEnabled":false}}},"s"]]`)
	sc, _ = a.Store.ActiveSieveScript(ctx, kate.ID)
	if before, _, _ := strings.Cut(sc.Content, "# BEGIN"); before+strings.SplitN(sc.Content, "# END pochta JMAP VacationResponse\n", 2)[1] != own {
		t.Fatalf("user's script after disabling: %q", sc.Content)
	}
}
