package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/smtp"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/dkim"
	"pochta/internal/dnstest"
	"pochta/internal/store"
)

// jmapClient talks JMAP to the app's http listener with net/http, the way
// any client would: JSON requests, Basic auth.
type jmapClient struct {
	t          testing.TB
	base       string
	user, pass string
	acct       string
}

const usingMail = `["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail","urn:ietf:params:jmap:submission"]`

func newJMAPClient(t testing.TB, a *App, user string) *jmapClient {
	c := &jmapClient{t: t, base: "http://" + a.Addrs()["http"][0], user: user, pass: "pw"}
	var s struct {
		PrimaryAccounts map[string]string `json:"primaryAccounts"`
		APIURL          string            `json:"apiUrl"`
	}
	if code := c.getJSON("/jmap/session", &s); code != 200 {
		t.Fatalf("session: %d", code)
	}
	if s.APIURL != c.base+"/jmap/api" {
		t.Fatalf("apiUrl %q, want it built from the request's host %q", s.APIURL, c.base)
	}
	c.acct = s.PrimaryAccounts["urn:ietf:params:jmap:mail"]
	if c.acct == "" {
		t.Fatalf("no mail account: %+v", s)
	}
	return c
}

func (c *jmapClient) do(method, path, ctype string, body io.Reader) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth(c.user, c.pass)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

func (c *jmapClient) getJSON(path string, v any) int {
	c.t.Helper()
	resp := c.do("GET", path, "", nil)
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			c.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// post sends a raw request body and returns the status and decoded JSON.
func (c *jmapClient) post(body string) (int, map[string]any) {
	c.t.Helper()
	resp := c.do("POST", "/jmap/api", "application/json", strings.NewReader(strings.ReplaceAll(body, "ACCT", c.acct)))
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		c.t.Fatalf("response %d is not JSON: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

// calls runs method calls (JSON text with ACCT for the account id) and
// returns the responses' [name, args, id] triples.
func (c *jmapClient) calls(methodCalls string) [][]any {
	c.t.Helper()
	code, out := c.post(`{"using":` + usingMail + `,"methodCalls":` + methodCalls + `}`)
	if code != 200 {
		c.t.Fatalf("status %d: %v", code, out)
	}
	var res [][]any
	for _, r := range out["methodResponses"].([]any) {
		res = append(res, r.([]any))
	}
	return res
}

// args returns the arguments of the one response named name.
func (c *jmapClient) args(methodCalls, name string) map[string]any {
	c.t.Helper()
	for _, r := range c.calls(methodCalls) {
		if r[0] == name {
			return r[1].(map[string]any)
		}
		if r[0] == "error" {
			c.t.Fatalf("error response: %v", r[1])
		}
	}
	c.t.Fatalf("no %s response", name)
	return nil
}

func deliverSMTP(t testing.TB, a *App, to, subject, body string) {
	t.Helper()
	deliverRaw(t, a, to, "From: Ann Other <ann@remote.test>\r\nTo: "+to+"\r\nSubject: "+subject+
		"\r\nMessage-ID: <"+strings.ReplaceAll(subject, " ", ".")+"@remote.test>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\n"+body+"\r\n")
}

// deliverRaw sends msg from ann@remote.test to to over port 25.
func deliverRaw(t testing.TB, a *App, to, msg string) {
	t.Helper()
	c, err := smtp.Dial(a.Addrs()["smtp"][0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := sendFromTo(c, "ann@remote.test", to, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func TestJMAPSessionAndAuth(t *testing.T) {
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.JMAP.CORSOrigins = []string{"https://webmail.example.test"}
	})
	base := "http://" + a.Addrs()["http"][0]
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(base + "/.well-known/jmap")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != base+"/jmap/session" {
		t.Fatalf("well-known: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.Get(base + "/jmap/session")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no credentials: %d", resp.StatusCode)
	}
	bad := &jmapClient{t: t, base: base, user: "kate@example.test", pass: "wrong"}
	if r := bad.do("GET", "/jmap/session", "", nil); r.StatusCode != 401 {
		t.Fatalf("wrong password: %d", r.StatusCode)
	}
	// CORS: a preflight from the configured origin is allowed, another is not.
	for origin, allowed := range map[string]bool{"https://webmail.example.test": true, "https://evil.test": false} {
		req, _ := http.NewRequest("OPTIONS", base+"/jmap/api", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("Access-Control-Allow-Origin") == origin &&
			strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")
		if got != allowed || resp.StatusCode != 204 {
			t.Errorf("preflight from %s: %d %v", origin, resp.StatusCode, resp.Header)
		}
	}
	c := newJMAPClient(t, a, "kate@example.test")
	var s map[string]any
	c.getJSON("/jmap/session", &s)
	core := s["capabilities"].(map[string]any)["urn:ietf:params:jmap:core"].(map[string]any)
	if core["maxCallsInRequest"].(float64) < 1 || s["username"] != "kate@example.test" ||
		!strings.HasPrefix(s["eventSourceUrl"].(string), base+"/jmap/eventsource?") {
		t.Fatalf("session: %v", s)
	}
}

func TestJMAPAppPassword(t *testing.T) {
	a := startApp(t)
	ctx := context.Background()
	acct, _ := a.Store.GetAccount(ctx, "kate@example.test")
	secret := auth.GenerateAppPassword()
	if _, err := a.Store.AddAppPassword(ctx, store.AppPassword{AccountID: acct.ID, Name: "phone", Hash: auth.AppPasswordHash(secret), Protocols: []string{auth.ProtoJMAP}}); err != nil {
		t.Fatal(err)
	}
	c := &jmapClient{t: t, base: "http://" + a.Addrs()["http"][0], user: "kate@example.test", pass: secret}
	var s map[string]any
	if code := c.getJSON("/jmap/session", &s); code != 200 {
		t.Fatalf("app password for jmap refused: %d", code)
	}
	// Bearer tokens: base64 of "address:app password"; the main password
	// is refused in a bearer token.
	for pass, want := range map[string]int{secret: 200, "pw": 401} {
		req, _ := http.NewRequest("GET", c.base+"/jmap/session", nil)
		req.Header.Set("Authorization", "Bearer "+base64.StdEncoding.EncodeToString([]byte("kate@example.test:"+pass)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("bearer with %q: %d, want %d", pass, resp.StatusCode, want)
		}
	}
}

func TestJMAPCoreAndErrors(t *testing.T) {
	a := startApp(t)
	c := newJMAPClient(t, a, "kate@example.test")

	echo := c.calls(`[["Core/echo",{"hello":[1,2,{"x":true}]},"e1"]]`)
	if b, _ := json.Marshal(echo[0]); string(b) != `["Core/echo",{"hello":[1,2,{"x":true}]},"e1"]` {
		t.Fatalf("echo: %s", b)
	}
	for _, tc := range []struct{ calls, want string }{
		{`[["Nope/get",{},"c"]]`, "unknownMethod"},
		{`[["Mailbox/get",{"accountId":"ACCT","ids":"notalist"},"c"]]`, "invalidArguments"},
		{`[["Mailbox/get",{"accountId":"nobody"},"c"]]`, "accountNotFound"},
		{`[["Mailbox/get",{"accountId":"ACCT","#ids":{"resultOf":"zz","name":"Mailbox/query","path":"/ids"}},"c"]]`, "invalidResultReference"},
		{`[["Email/query",{"accountId":"ACCT","filter":{"colour":"red"}},"c"]]`, "unsupportedFilter"},
		{`[["Email/query",{"accountId":"ACCT","sort":[{"property":"colour"}]},"c"]]`, "unsupportedSort"},
		{`[["Mailbox/set",{"accountId":"ACCT","ifInState":"stale"},"c"]]`, "stateMismatch"},
		{`[["Mailbox/changes",{"accountId":"ACCT","sinceState":"stale"},"c"]]`, "cannotCalculateChanges"},
		{`[["Email/get",{"accountId":"ACCT","ids":[],"properties":["colour"]},"c"]]`, "invalidArguments"},
		{`[["Email/get",{"accountId":"ACCT","ids":[],"properties":["header:X:asColour"]},"c"]]`, "invalidArguments"},
	} {
		r := c.calls(tc.calls)
		if r[0][0] != "error" || r[0][1].(map[string]any)["type"] != tc.want || r[0][2] != "c" {
			t.Errorf("%s: got %v, want error %s", tc.calls, r[0], tc.want)
		}
	}
	// Methods of a capability not in "using" are unknown (RFC 8620 §3.3).
	_, out := c.post(`{"using":["urn:ietf:params:jmap:core"],"methodCalls":[["Mailbox/get",{"accountId":"ACCT"},"c"]]}`)
	if r := out["methodResponses"].([]any)[0].([]any); r[1].(map[string]any)["type"] != "unknownMethod" {
		t.Errorf("method outside using: %v", r)
	}
	// Request-level errors are problem details with a status (RFC 8620 §3.6.1).
	many := strings.Repeat(`["Core/echo",{},"c"],`, 100)
	for _, tc := range []struct{ body, typ, limit string }{
		{`{"using":`, "urn:ietf:params:jmap:error:notJSON", ""},
		{`{"using":"x","methodCalls":[]}`, "urn:ietf:params:jmap:error:notRequest", ""},
		{`{"using":["urn:example:nope"],"methodCalls":[]}`, "urn:ietf:params:jmap:error:unknownCapability", ""},
		{`{"using":[],"methodCalls":[` + many + `["Core/echo",{},"c"]]}`, "urn:ietf:params:jmap:error:limit", "maxCallsInRequest"},
		{`{"using":[],"methodCalls":[],"pad":"` + strings.Repeat("x", 11<<20) + `"}`, "urn:ietf:params:jmap:error:limit", "maxSizeRequest"},
	} {
		code, out := c.post(tc.body)
		if code != 400 || out["type"] != tc.typ || (tc.limit != "" && out["limit"] != tc.limit) {
			t.Errorf("%.60s: %d %v", tc.body, code, out)
		}
	}
	// maxObjectsInGet: more ids than allowed is requestTooLarge.
	ids, _ := json.Marshal(make([]string, 1001))
	r := c.calls(`[["Email/get",{"accountId":"ACCT","ids":` + string(ids) + `},"c"]]`)
	if r[0][1].(map[string]any)["type"] != "requestTooLarge" {
		t.Errorf("maxObjectsInGet: %v", r[0])
	}

	// Result references, with "*" in the path (RFC 8620 §3.7).
	res := c.calls(`[["Mailbox/query",{"accountId":"ACCT","filter":{"role":"inbox"}},"q"],
		["Mailbox/get",{"accountId":"ACCT","#ids":{"resultOf":"q","name":"Mailbox/query","path":"/ids"},"properties":["name","role"]},"g"],
		["Core/echo",{"#names":{"resultOf":"g","name":"Mailbox/get","path":"/list/*/name"}},"n"]]`)
	list := res[1][1].(map[string]any)["list"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["role"] != "inbox" {
		t.Fatalf("Mailbox/get by reference: %v", res[1])
	}
	if b, _ := json.Marshal(res[2][1]); string(b) != `{"names":["INBOX"]}` {
		t.Fatalf("echo by reference: %s", b)
	}
}

func TestJMAPMailboxSet(t *testing.T) {
	a := startApp(t)
	c := newJMAPClient(t, a, "kate@example.test")
	set := c.args(`[["Mailbox/set",{"accountId":"ACCT","create":{"w":{"name":"Work"},"p":{"name":"2026","parentId":"#w"}}},"s"]]`, "Mailbox/set")
	created := set["created"].(map[string]any)
	if len(created) != 2 {
		t.Fatalf("create with a parent by creation id: %v", set)
	}
	work := created["w"].(map[string]any)["id"].(string)
	child := created["p"].(map[string]any)["id"].(string)
	ctx := context.Background()
	acct, _ := a.Store.GetAccount(ctx, "kate@example.test")
	if _, err := a.Store.GetMailbox(ctx, acct.ID, "Work/2026"); err != nil {
		t.Fatalf("child not created in the store: %v", err)
	}
	set = c.args(`[["Mailbox/set",{"accountId":"ACCT","destroy":["`+work+`"]},"s"]]`, "Mailbox/set")
	if nd := set["notDestroyed"].(map[string]any); nd[work].(map[string]any)["type"] != "mailboxHasChild" {
		t.Fatalf("destroy parent: %v", set)
	}
	set = c.args(`[["Mailbox/set",{"accountId":"ACCT","update":{"`+work+`":{"name":"Jobs"}}},"s"]]`, "Mailbox/set")
	if _, err := a.Store.GetMailbox(ctx, acct.ID, "Jobs/2026"); err != nil {
		t.Fatalf("rename: %v %v", err, set)
	}
	// A mailbox with mail is kept unless onDestroyRemoveEmails.
	mb, _ := a.Store.GetMailbox(ctx, acct.ID, "Jobs/2026")
	if _, err := a.Store.Append(ctx, mb.ID, nil, time.Time{}, strings.NewReader("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	set = c.args(`[["Mailbox/set",{"accountId":"ACCT","destroy":["`+child+`"]},"s"]]`, "Mailbox/set")
	if set["notDestroyed"].(map[string]any)[child] == nil {
		t.Fatalf("destroyed a mailbox with mail: %v", set)
	}
	set = c.args(`[["Mailbox/set",{"accountId":"ACCT","destroy":["`+child+`"],"onDestroyRemoveEmails":true},"s"]]`, "Mailbox/set")
	if d := set["destroyed"].([]any); len(d) != 1 || set["oldState"] == set["newState"] {
		t.Fatalf("onDestroyRemoveEmails: %v", set)
	}
}

// TestJMAPReadFlagAcrossIMAP: a message delivered over SMTP is found and
// read over JMAP; keyword changes through JMAP are IMAP flags and back.
func TestJMAPReadFlagAcrossIMAP(t *testing.T) {
	a := startApp(t)
	deliverSMTP(t, a, "kate@example.test", "Hello JMAP", "First line of the body.")
	deliverSMTP(t, a, "kate@example.test", "Second one", "Another body.")
	c := newJMAPClient(t, a, "kate@example.test")

	mboxes := c.args(`[["Mailbox/get",{"accountId":"ACCT"},"m"]]`, "Mailbox/get")
	var inbox string
	for _, m := range mboxes["list"].([]any) {
		m := m.(map[string]any)
		if m["role"] == "inbox" {
			inbox = m["id"].(string)
			if m["totalEmails"].(float64) != 2 || m["unreadEmails"].(float64) != 2 {
				t.Fatalf("inbox counts: %v", m)
			}
		}
	}
	res := c.calls(`[["Email/query",{"accountId":"ACCT","filter":{"inMailbox":"` + inbox + `","subject":"hello"},"calculateTotal":true},"q"],
		["Email/get",{"accountId":"ACCT","#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},"fetchTextBodyValues":true,
		"properties":["subject","from","keywords","mailboxIds","textBody","bodyValues","messageId","receivedAt","preview","header:Subject:asText"]},"g"]]`)
	q := res[0][1].(map[string]any)
	if q["total"].(float64) != 1 || len(q["ids"].([]any)) != 1 {
		t.Fatalf("Email/query: %v", q)
	}
	email := res[1][1].(map[string]any)["list"].([]any)[0].(map[string]any)
	from := email["from"].([]any)[0].(map[string]any)
	textPart := email["textBody"].([]any)[0].(map[string]any)["partId"].(string)
	value := email["bodyValues"].(map[string]any)[textPart].(map[string]any)["value"].(string)
	if email["subject"] != "Hello JMAP" || from["email"] != "ann@remote.test" || from["name"] != "Ann Other" ||
		!strings.Contains(value, "First line of the body.") || email["messageId"].([]any)[0] != "Hello.JMAP@remote.test" ||
		email["header:Subject:asText"] != "Hello JMAP" || !strings.HasPrefix(email["preview"].(string), "First line") {
		t.Fatalf("Email/get: %v", email)
	}
	id := email["id"].(string)

	// One mailbox by date is answered from the date index; the same query
	// in another form takes the general path: both agree, pages included.
	for _, order := range []string{"true", "false"} {
		var got []string
		for _, f := range []string{`{"inMailbox":"` + inbox + `"}`, `{"operator":"AND","conditions":[{"inMailbox":"` + inbox + `"}]}`} {
			var ids []string
			for pos := 0; pos < 3; pos++ {
				q := c.args(`[["Email/query",{"accountId":"ACCT","filter":`+f+`,"sort":[{"property":"receivedAt","isAscending":`+order+`}],"position":`+fmt.Sprint(pos)+`,"limit":1,"calculateTotal":true},"q"]]`, "Email/query")
				if q["total"].(float64) != 2 {
					t.Fatalf("total: %v", q)
				}
				for _, x := range q["ids"].([]any) {
					ids = append(ids, x.(string))
				}
			}
			got = append(got, strings.Join(ids, ","))
		}
		if got[0] != got[1] || strings.Count(got[0], ",") != 1 {
			t.Fatalf("isAscending %s: by index %q, general %q", order, got[0], got[1])
		}
	}

	// JMAP → IMAP: keywords become flags.
	c.args(`[["Email/set",{"accountId":"ACCT","update":{"`+id+`":{"keywords":{"$seen":true,"$flagged":true}}}},"s"]]`, "Email/set")
	ic := imapInbox(t, a, "kate@example.test")
	msgs, err := ic.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if fl := fmt.Sprint(msgs[0].Flags); !strings.Contains(fl, `\Seen`) || !strings.Contains(fl, `\Flagged`) {
		t.Fatalf("IMAP flags after Email/set: %v", fl)
	}
	// IMAP → JMAP: a STORE shows as keywords; the Email state changes.
	before := c.args(`[["Email/get",{"accountId":"ACCT","ids":["`+id+`"],"properties":["keywords"]},"g"]]`, "Email/get")
	if err := ic.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagAnswered, "$Important"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	after := c.args(`[["Email/get",{"accountId":"ACCT","ids":["`+id+`"],"properties":["keywords"]},"g"]]`, "Email/get")
	kw := after["list"].([]any)[0].(map[string]any)["keywords"].(map[string]any)
	if kw["$answered"] != true || kw["$important"] != true || kw["$seen"] != true || before["state"] == after["state"] {
		t.Fatalf("keywords after IMAP STORE: %v (state %v → %v)", kw, before["state"], after["state"])
	}
	// hasKeyword filter, and a keyword removed by patch.
	q = c.args(`[["Email/query",{"accountId":"ACCT","filter":{"hasKeyword":"$flagged"}},"q"]]`, "Email/query")
	if ids := q["ids"].([]any); len(ids) != 1 || ids[0] != id {
		t.Fatalf("hasKeyword: %v", q)
	}
	c.args(`[["Email/set",{"accountId":"ACCT","update":{"`+id+`":{"keywords/$flagged":null}}},"s"]]`, "Email/set")
	msgs, err = ic.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if fl := fmt.Sprint(msgs[0].Flags); strings.Contains(fl, `\Flagged`) || !strings.Contains(fl, `\Seen`) {
		t.Fatalf("IMAP flags after keyword patch: %v", fl)
	}
	// SearchSnippet/get knows the Email (no highlighting: nulls).
	sn := c.args(`[["SearchSnippet/get",{"accountId":"ACCT","emailIds":["`+id+`","e999.1"],"filter":{"text":"x"}},"s"]]`, "SearchSnippet/get")
	if len(sn["list"].([]any)) != 1 || len(sn["notFound"].([]any)) != 1 {
		t.Fatalf("SearchSnippet/get: %v", sn)
	}
	// Destroy expunges.
	c.args(`[["Email/set",{"accountId":"ACCT","destroy":["`+id+`"]},"s"]]`, "Email/set")
	st, err := ic.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 1 {
		t.Fatalf("messages after destroy: %d", *st.NumMessages)
	}
}

func TestJMAPUploadImportDownload(t *testing.T) {
	a := startApp(t)
	c := newJMAPClient(t, a, "kate@example.test")
	raw := "From: kate@example.test\r\nTo: bob@example.test\r\nSubject: Imported\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHi there.\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
	resp := c.do("POST", "/jmap/upload/"+c.acct+"/", "message/rfc822", strings.NewReader(raw))
	var up map[string]any
	json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if resp.StatusCode != 201 || up["size"].(float64) != float64(len(raw)) {
		t.Fatalf("upload: %d %v", resp.StatusCode, up)
	}
	if r := c.do("POST", "/jmap/upload/a999/", "text/plain", strings.NewReader("x")); r.StatusCode != 404 {
		t.Fatalf("upload to another account: %d", r.StatusCode)
	}
	mboxes := c.args(`[["Mailbox/query",{"accountId":"ACCT","filter":{"role":"archive"}},"q"]]`, "Mailbox/query")
	archive := mboxes["ids"].([]any)[0].(string)
	imp := c.args(`[["Email/import",{"accountId":"ACCT","emails":{"k":{"blobId":"`+up["blobId"].(string)+`","mailboxIds":{"`+archive+`":true},"keywords":{"$seen":true}}}},"i"]]`, "Email/import")
	created := imp["created"].(map[string]any)["k"].(map[string]any)
	get := c.args(`[["Email/get",{"accountId":"ACCT","ids":["`+created["id"].(string)+`"],"properties":["subject","keywords","attachments","hasAttachment","blobId"]},"g"]]`, "Email/get")
	e := get["list"].([]any)[0].(map[string]any)
	att := e["attachments"].([]any)
	if e["subject"] != "Imported" || e["keywords"].(map[string]any)["$seen"] != true || e["hasAttachment"] != true || len(att) != 1 {
		t.Fatalf("imported email: %v", e)
	}
	// Download the whole message and the attachment (decoded).
	download := func(blob, name, typ string) (int, string, http.Header) {
		r := c.do("GET", "/jmap/download/"+c.acct+"/"+blob+"/"+name+"?type="+typ, "", nil)
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b), r.Header
	}
	code, body, _ := download(e["blobId"].(string), "m.eml", "message/rfc822")
	if code != 200 || body != raw {
		t.Fatalf("download message: %d %q", code, body)
	}
	pdf := att[0].(map[string]any)
	// Ids keep to RFC 8620 §1.2's alphabet (URL-safe base64 characters).
	for _, id := range []any{created["id"], e["blobId"], pdf["blobId"], up["blobId"]} {
		if s, _ := id.(string); s == "" || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("id %v outside RFC 8620's alphabet", id)
		}
	}
	code, body, h := download(pdf["blobId"].(string), "a.pdf", "application/pdf")
	if code != 200 || body != "%PDF-1.4\n" || h.Get("Content-Type") != "application/pdf" || !strings.Contains(h.Get("Content-Disposition"), "a.pdf") {
		t.Fatalf("download part: %d %q %v", code, body, h)
	}
	// Another user cannot download it.
	bobAccount(t, a)
	bob := newJMAPClient(t, a, "bob@example.test")
	if r := bob.do("GET", "/jmap/download/"+c.acct+"/"+e["blobId"].(string)+"/m.eml", "", nil); r.StatusCode != 404 {
		t.Fatalf("foreign download: %d", r.StatusCode)
	}
	if r := bob.do("GET", "/jmap/download/"+bob.acct+"/"+e["blobId"].(string)+"/m.eml", "", nil); r.StatusCode != 404 {
		t.Fatalf("foreign blob under own account: %d", r.StatusCode)
	}
}

// imapInbox logs in over IMAP and selects INBOX.
func imapInbox(t testing.TB, a *App, user string) *imapclient.Client {
	t.Helper()
	ic, err := imapclient.DialInsecure(a.Addrs()["imap"][0], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close() })
	if err := ic.Login(user, "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	return ic
}

func bobAccount(t testing.TB, a *App) {
	h, _ := auth.Hash("pw")
	if _, err := a.Store.AddAccount(context.Background(), "bob@example.test", h); err != nil {
		t.Fatal(err)
	}
}

// TestJMAPEventSource: the push stream reports a new Email state after an
// SMTP delivery and after an IMAP STORE.
func TestJMAPEventSource(t *testing.T) {
	a := startApp(t)
	c := newJMAPClient(t, a, "kate@example.test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/jmap/eventsource?types=*&closeafter=no&ping=0", nil)
	req.SetBasicAuth(c.user, c.pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)
	next := func() map[string]any { t.Helper(); return nextStateChange(t, r, c.acct) }
	first := next() // the current state
	deliverSMTP(t, a, "kate@example.test", "Pushed", "Body.")
	second := next()
	if second["Email"] == nil || second["Email"] == first["Email"] {
		t.Fatalf("no Email change after delivery: %v then %v", first, second)
	}
	ic := imapInbox(t, a, "kate@example.test")
	if err := ic.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	third := next()
	if third["Email"] == nil || third["Email"] == second["Email"] {
		t.Fatalf("no Email change after IMAP STORE: %v then %v", second, third)
	}

	// closeafter=state: no event for the current state; the first change
	// is sent and ends the response.
	req, _ = http.NewRequestWithContext(ctx, "GET", c.base+"/jmap/eventsource?types=Email&closeafter=state&ping=0", nil)
	req.SetBasicAuth(c.user, c.pass)
	once, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer once.Body.Close()
	deliverSMTP(t, a, "kate@example.test", "Pushed again", "Body.")
	body, err := io.ReadAll(once.Body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(body), "event: state") != 1 || strings.Contains(string(body), `"Mailbox"`) {
		t.Fatalf("closeafter=state stream: %q", body)
	}
}

// TestJMAPSubmission writes a draft, sends it to a local user and moves
// it to Sent in the same request (onSuccessUpdateEmail).
func TestJMAPSubmission(t *testing.T) {
	a := startApp(t)
	bobAccount(t, a)
	c := newJMAPClient(t, a, "kate@example.test")
	q := c.args(`[["Mailbox/query",{"accountId":"ACCT","filter":{"hasAnyRole":true}},"q"],
		["Mailbox/get",{"accountId":"ACCT","#ids":{"resultOf":"q","name":"Mailbox/query","path":"/ids"},"properties":["role"]},"g"]]`, "Mailbox/get")
	roles := map[string]string{}
	for _, m := range q["list"].([]any) {
		m := m.(map[string]any)
		roles[m["role"].(string)] = m["id"].(string)
	}
	ident := c.args(`[["Identity/get",{"accountId":"ACCT"},"i"]]`, "Identity/get")["list"].([]any)[0].(map[string]any)
	if ident["email"] != "kate@example.test" {
		t.Fatalf("identity: %v", ident)
	}
	res := c.calls(`[["Email/set",{"accountId":"ACCT","create":{"d":{"mailboxIds":{"` + roles["drafts"] + `":true},"keywords":{"$draft":true,"$seen":true},
		"from":[{"name":"Kate","email":"kate@example.test"}],"to":[{"email":"bob@example.test"}],"subject":"Über JMAP",
		"textBody":[{"partId":"1","type":"text/plain"}],"bodyValues":{"1":{"value":"Hello Bob,\nsent over JMAP."}}}}},"c"],
		["EmailSubmission/set",{"accountId":"ACCT","create":{"s":{"identityId":"` + ident["id"].(string) + `","emailId":"#d"}},
		"onSuccessUpdateEmail":{"#s":{"mailboxIds":{"` + roles["sent"] + `":true},"keywords/$draft":null}}},"s"]]`)
	if len(res) != 3 || res[1][0] != "EmailSubmission/set" || res[2][0] != "Email/set" {
		t.Fatalf("responses: %v", res)
	}
	if sub := res[1][1].(map[string]any); len(sub["created"].(map[string]any)) != 1 {
		t.Fatalf("submission: %v", sub)
	}
	if up := res[2][1].(map[string]any); len(up["updated"].(map[string]any)) != 1 {
		t.Fatalf("implicit Email/set: %v", up)
	}
	ctx := context.Background()
	bob, _ := a.Store.GetAccount(ctx, "bob@example.test")
	inbox, _ := a.Store.GetMailbox(ctx, bob.ID, "INBOX")
	rc, err := a.Store.Open(ctx, inbox.ID, 1)
	if err != nil {
		t.Fatalf("bob got nothing: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(got, []byte("sent over JMAP.")) || !bytes.Contains(got, []byte("From: =?utf-8?q?Kate?= <kate@example.test>")) && !bytes.Contains(got, []byte("kate@example.test")) {
		t.Fatalf("bob's copy: %s", got)
	}
	kate, _ := a.Store.GetAccount(ctx, "kate@example.test")
	sent, _ := a.Store.GetMailbox(ctx, kate.ID, "Sent")
	drafts, _ := a.Store.GetMailbox(ctx, kate.ID, "Drafts")
	ss, _ := a.Store.Status(ctx, sent.ID)
	ds, _ := a.Store.Status(ctx, drafts.ID)
	if ss.Messages != 1 || ds.Messages != 0 {
		t.Fatalf("Sent %d, Drafts %d", ss.Messages, ds.Messages)
	}
	// A From that is not the user's is refused, nothing sent.
	res = c.calls(`[["Email/set",{"accountId":"ACCT","create":{"d":{"mailboxIds":{"` + roles["drafts"] + `":true},
		"from":[{"email":"ceo@example.test"}],"to":[{"email":"bob@example.test"}],"subject":"forged"}}},"c"],
		["EmailSubmission/set",{"accountId":"ACCT","create":{"s":{"identityId":"` + ident["id"].(string) + `","emailId":"#d"}}},"s"]]`)
	nc := res[1][1].(map[string]any)["notCreated"].(map[string]any)["s"].(map[string]any)
	if nc["type"] != "forbiddenFrom" {
		t.Fatalf("forged From: %v", nc)
	}
	if st, _ := a.Store.Status(ctx, inbox.ID); st.Messages != 1 {
		t.Fatalf("bob has %d messages after a refused submission", st.Messages)
	}
}

// TestJMAPSubmissionRemote: a JMAP submission to another domain is
// DKIM-signed, queued and delivered to that domain's server (a loopback
// sink found by MX), without the Bcc field.
func TestJMAPSubmissionRemote(t *testing.T) {
	sk, port := startSink(t)
	dnsSrv := dnstest.Start(t, dnstest.Zone{
		"remote.test":    {MX: []dnstest.MX{{Host: "mx.remote.test", Pref: 10}}},
		"mx.remote.test": {A: []string{"127.0.0.1"}},
	})
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.DNS.Servers = []string{dnsSrv.Addr()}
		c.Delivery.RemotePort = port
		if _, err := dkim.Keygen(filepath.Join(c.DataDir, "dkim"), "example.test", "s1", "ed25519"); err != nil {
			t.Fatal(err)
		}
	})
	c := newJMAPClient(t, a, "kate@example.test")
	drafts := c.args(`[["Mailbox/query",{"accountId":"ACCT","filter":{"role":"drafts"}},"q"]]`, "Mailbox/query")["ids"].([]any)[0].(string)
	ident := c.args(`[["Identity/get",{"accountId":"ACCT"},"i"]]`, "Identity/get")["list"].([]any)[0].(map[string]any)["id"].(string)
	res := c.calls(`[["Email/set",{"accountId":"ACCT","create":{"d":{"mailboxIds":{"` + drafts + `":true},
		"from":[{"email":"kate@example.test"}],"to":[{"email":"bob@remote.test"}],"bcc":[{"email":"carol@remote.test"}],"subject":"Out",
		"textBody":[{"partId":"1"}],"bodyValues":{"1":{"value":"to the world"}}}}},"c"],
		["EmailSubmission/set",{"accountId":"ACCT","create":{"s":{"identityId":"` + ident + `","emailId":"#d"}}},"s"]]`)
	if sub := res[1][1].(map[string]any); len(sub["created"].(map[string]any)) != 1 {
		t.Fatalf("submission: %v", res)
	}
	got := sk.next(t)
	if got.from != "kate@example.test" || strings.Join(got.rcpts, ",") != "bob@remote.test,carol@remote.test" ||
		!strings.Contains(got.data, "DKIM-Signature:") || !strings.Contains(got.data, "to the world") ||
		strings.Contains(strings.ToLower(got.data), "\nbcc:") {
		t.Fatalf("remote got MAIL FROM:<%s> RCPT %v:\n%s", got.from, got.rcpts, got.data)
	}
}

// TestJMAPChanges: /changes from states made of the mailboxes' modseqs
// report each creation, update and destruction exactly once, whichever
// protocol made it.
func TestJMAPChanges(t *testing.T) {
	a := startApp(t)
	c := newJMAPClient(t, a, "kate@example.test")
	state := func() (mailbox, email string) {
		r := c.calls(`[["Mailbox/get",{"accountId":"ACCT","ids":[]},"m"],["Email/get",{"accountId":"ACCT","ids":[]},"e"]]`)
		return r[0][1].(map[string]any)["state"].(string), r[1][1].(map[string]any)["state"].(string)
	}
	changes := func(method, since string) (created, updated, destroyed string, res map[string]any) {
		t.Helper()
		res = c.args(`[["`+method+`",{"accountId":"ACCT","sinceState":"`+since+`"},"c"]]`, method)
		join := func(k string) string {
			var s []string
			for _, v := range res[k].([]any) {
				s = append(s, v.(string))
			}
			return strings.Join(s, " ")
		}
		return join("created"), join("updated"), join("destroyed"), res
	}
	mb0, em0 := state()
	deliverSMTP(t, a, "kate@example.test", "One", "1")
	cr, up, de, res := changes("Email/changes", em0)
	if cr == "" || strings.Contains(cr, " ") || up != "" || de != "" {
		t.Fatalf("after delivery: created %q updated %q destroyed %q", cr, up, de)
	}
	id := cr
	em1 := res["newState"].(string)
	if cr, up, de, _ := changes("Email/changes", em1); cr+up+de != "" {
		t.Fatalf("changes repeated: %q %q %q", cr, up, de)
	}
	_, up, _, mres := changes("Mailbox/changes", mb0)
	if up == "" || mres["updatedProperties"] == nil {
		t.Fatalf("Mailbox/changes after delivery: %v", mres)
	}
	// An IMAP STORE is an update.
	ic := imapInbox(t, a, "kate@example.test")
	if err := ic.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	cr, up, de, res = changes("Email/changes", em1)
	if cr != "" || up != id || de != "" {
		t.Fatalf("after STORE: created %q updated %q destroyed %q", cr, up, de)
	}
	em2 := res["newState"].(string)
	// A move through JMAP keeps the Email's id (RFC 8621 §4.1.1): it is
	// updated, not destroyed and created; ifInState guards the change.
	archive := c.args(`[["Mailbox/query",{"accountId":"ACCT","filter":{"role":"archive"}},"q"]]`, "Mailbox/query")["ids"].([]any)[0].(string)
	r := c.calls(`[["Email/set",{"accountId":"ACCT","ifInState":"` + em0 + `","update":{"` + id + `":{"mailboxIds":{"` + archive + `":true}}}},"s"]]`)
	if r[0][1].(map[string]any)["type"] != "stateMismatch" {
		t.Fatalf("stale ifInState: %v", r[0])
	}
	inbox := c.args(`[["Mailbox/query",{"accountId":"ACCT","filter":{"role":"inbox"}},"q"]]`, "Mailbox/query")["ids"].([]any)[0].(string)
	set := c.args(`[["Email/set",{"accountId":"ACCT","ifInState":"`+em2+`","update":{"`+id+`":{"mailboxIds/`+inbox+`":null,"mailboxIds/`+archive+`":true}}},"s"]]`, "Email/set")
	if len(set["updated"].(map[string]any)) != 1 {
		t.Fatalf("move by patch: %v", set)
	}
	cr, up, de, res = changes("Email/changes", em2)
	if cr != "" || up != id || de != "" {
		t.Fatalf("after move: created %q updated %q destroyed %q", cr, up, de)
	}
	em3 := res["newState"].(string)
	got := c.args(`[["Email/get",{"accountId":"ACCT","ids":["`+id+`"],"properties":["mailboxIds"]},"g"]]`, "Email/get")
	if l := got["list"].([]any); len(l) != 1 || l[0].(map[string]any)["mailboxIds"].(map[string]any)[archive] != true {
		t.Fatalf("Email/get after move: %v", got)
	}
	// An IMAP MOVE back keeps the id too.
	if _, err := ic.Select("Archive", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Move(imap.SeqSetNum(1), "INBOX").Wait(); err != nil {
		t.Fatal(err)
	}
	if cr, up, de, _ = changes("Email/changes", em3); cr != "" || up != id || de != "" {
		t.Fatalf("after IMAP MOVE: created %q updated %q destroyed %q", cr, up, de)
	}
	// Destroying it: destroyed, once.
	c.args(`[["Email/set",{"accountId":"ACCT","destroy":["`+id+`"]},"s"]]`, "Email/set")
	if cr, up, de, _ = changes("Email/changes", em3); cr != "" || up != "" || de != id {
		t.Fatalf("after destroy: created %q updated %q destroyed %q", cr, up, de)
	}
	// Mailbox creation and rename.
	mb1, _ := state()
	set = c.args(`[["Mailbox/set",{"accountId":"ACCT","create":{"n":{"name":"New"}}},"s"]]`, "Mailbox/set")
	newID := set["created"].(map[string]any)["n"].(map[string]any)["id"].(string)
	cr, _, _, _ = changes("Mailbox/changes", mb1)
	if cr != newID {
		t.Fatalf("Mailbox/changes created %q, want %s", cr, newID)
	}
	mb2 := set["newState"].(string)
	c.args(`[["Mailbox/set",{"accountId":"ACCT","update":{"`+newID+`":{"name":"Renamed"}}},"s"]]`, "Mailbox/set")
	_, up, _, mres = changes("Mailbox/changes", mb2)
	if up != newID || mres["updatedProperties"] != nil {
		t.Fatalf("Mailbox/changes after rename: %v", mres)
	}
}

// TestJMAPThreads: a reply joins its root's thread (References), an
// unrelated message does not; Thread/get lists the thread oldest first.
func TestJMAPThreads(t *testing.T) {
	a := startApp(t)
	deliverRaw(t, a, "kate@example.test", "From: ann@remote.test\r\nSubject: Plan\r\nMessage-ID: <root@remote.test>\r\n"+
		"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\nroot\r\n")
	deliverRaw(t, a, "kate@example.test", "From: ann@remote.test\r\nSubject: Re: Plan\r\nMessage-ID: <reply@remote.test>\r\n"+
		"In-Reply-To: <root@remote.test>\r\nReferences: <root@remote.test>\r\n\r\nreply\r\n")
	deliverRaw(t, a, "kate@example.test", "From: ann@remote.test\r\nSubject: Other\r\nMessage-ID: <other@remote.test>\r\n\r\nother\r\n")
	c := newJMAPClient(t, a, "kate@example.test")
	res := c.calls(`[["Email/query",{"accountId":"ACCT","sort":[{"property":"receivedAt","isAscending":true}]},"q"],
		["Email/get",{"accountId":"ACCT","#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},"properties":["threadId","subject"]},"g"],
		["Thread/get",{"accountId":"ACCT","#ids":{"resultOf":"g","name":"Email/get","path":"/list/*/threadId"}},"t"]]`)
	ids := res[0][1].(map[string]any)["ids"].([]any)
	list := res[1][1].(map[string]any)["list"].([]any)
	thread := func(i int) string { return list[i].(map[string]any)["threadId"].(string) }
	if len(list) != 3 || thread(0) != thread(1) || thread(0) == thread(2) {
		t.Fatalf("thread ids: %v", list)
	}
	threads := res[2][1].(map[string]any)["list"].([]any)
	first := threads[0].(map[string]any)
	if b, _ := json.Marshal(first["emailIds"]); first["id"] != thread(0) || string(b) != fmt.Sprintf(`["%s","%s"]`, ids[0], ids[1]) {
		t.Fatalf("Thread/get: %v (emails %v)", threads, ids)
	}
}

// TestJMAPWakesIMAPIdle: an IMAP client in IDLE hears of a keyword change
// made through JMAP.
func TestJMAPWakesIMAPIdle(t *testing.T) {
	a := startApp(t)
	deliverSMTP(t, a, "kate@example.test", "Idle", "x")
	c := newJMAPClient(t, a, "kate@example.test")
	id := c.args(`[["Email/query",{"accountId":"ACCT"},"q"]]`, "Email/query")["ids"].([]any)[0].(string)
	flags := make(chan []imap.Flag, 4)
	ic, err := imapclient.DialInsecure(a.Addrs()["imap"][0], &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Fetch: func(msg *imapclient.FetchMessageData) {
				for {
					item := msg.Next()
					if item == nil {
						return
					}
					if f, ok := item.(imapclient.FetchItemDataFlags); ok {
						flags <- f.Flags
					}
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("kate@example.test", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := ic.Idle()
	if err != nil {
		t.Fatal(err)
	}
	c.args(`[["Email/set",{"accountId":"ACCT","update":{"`+id+`":{"keywords/$flagged":true}}},"s"]]`, "Email/set")
	select {
	case f := <-flags:
		if !strings.Contains(fmt.Sprint(f), `\Flagged`) {
			t.Fatalf("IDLE got FLAGS %v", f)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("IDLE did not wake within 20 s of a JMAP Email/set")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}
