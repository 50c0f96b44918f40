package app

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestJMAPEmailDeliveryPush: the EmailDelivery push type (RFC 8621 §1.5)
// changes for mail delivered over SMTP, not for a draft saved through
// JMAP: the first event after both carries the state both left, and the
// Email type is not sent when only EmailDelivery is asked for.
func TestJMAPEmailDeliveryPush(t *testing.T) {
	a := startApp(t)
	c := newJMAPClient(t, a, "kate@example.test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	open := func() (*bufio.Reader, func()) {
		req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/jmap/eventsource?types=EmailDelivery&closeafter=no&ping=0", nil)
		req.SetBasicAuth(c.user, c.pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return bufio.NewReader(resp.Body), func() { resp.Body.Close() }
	}
	next := func(r *bufio.Reader) map[string]any { t.Helper(); return nextStateChange(t, r, c.acct) }
	r, done := open()
	defer done()
	first := next(r)
	if first["EmailDelivery"] == nil || len(first) != 1 {
		t.Fatalf("initial event: %v", first)
	}
	drafts := c.args(`[["Mailbox/query",{"accountId":"ACCT","filter":{"role":"drafts"}},"q"]]`, "Mailbox/query")["ids"].([]any)[0].(string)
	set := c.args(`[["Email/set",{"accountId":"ACCT","create":{"d":{"mailboxIds":{"`+drafts+`":true},"subject":"draft"}}},"s"]]`, "Email/set")
	if len(set["created"].(map[string]any)) != 1 {
		t.Fatalf("draft: %v", set)
	}
	deliverSMTP(t, a, "kate@example.test", "New mail", "Body.")
	second := next(r)
	r2, done2 := open()
	defer done2()
	now := next(r2)
	if second["EmailDelivery"] == first["EmailDelivery"] || second["EmailDelivery"] != now["EmailDelivery"] {
		t.Fatalf("EmailDelivery: %v, then %v, now %v (a draft must not change it, a delivery must)", first, second, now)
	}
}

// nextStateChange reads the next StateChange of an event source stream
// (RFC 8620 §7.3) and returns its changed states of account acct.
func nextStateChange(t *testing.T, r *bufio.Reader, acct string) map[string]any {
	t.Helper()
	var data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "data: ") {
			data = line[len("data: "):]
		}
		if line == "" && data != "" {
			var ev map[string]any
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatal(err)
			}
			return ev["changed"].(map[string]any)[acct].(map[string]any)
		}
	}
}
