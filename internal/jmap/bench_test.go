package jmap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"pochta/internal/store"
	"pochta/internal/store/sqlite"
)

// benchStore opens (building once, then reusing across runs) a store
// whose INBOX holds 100,000 messages: 1,000 distinct deliveries copied
// 100 times (copies share content, so the fixture builds in seconds).
func benchStore(b *testing.B) (*sqlite.Store, store.Account) {
	b.Helper()
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), "pochta-jmap-bench-100k-v2")
	marker := filepath.Join(dir, "complete")
	if _, err := os.Stat(marker); err != nil {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		st, err := sqlite.Open(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		st.AddDomain(ctx, "example.org")
		acct, err := st.AddAccount(ctx, "alice@example.org", "x")
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < 1000; i += 16 {
					msg := fmt.Sprintf("From: Sender %d <s%d@example.net>\r\nTo: alice@example.org\r\nSubject: bench subject %04d\r\n"+
						"Message-ID: <%d@example.net>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\nBody of message %d.\r\n", i, i, i, i, i)
					if _, err := st.Deliver(ctx, strings.NewReader(msg), []store.Target{{AccountID: acct.ID, Mailbox: "Seed"}}); err != nil {
						errs <- err
						return
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		seed, _ := st.GetMailbox(ctx, acct.ID, "Seed")
		inbox, _ := st.GetMailbox(ctx, acct.ID, "INBOX")
		for i := 0; i < 100; i++ {
			if _, err := st.Copy(ctx, seed.ID, nil, inbox.ID); err != nil {
				b.Fatal(err)
			}
		}
		st.DeleteMailbox(ctx, acct.ID, "Seed")
		st.Close()
		os.WriteFile(marker, nil, 0o600)
	}
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	acct, err := st.GetAccount(ctx, "alice@example.org")
	if err != nil {
		b.Fatal(err)
	}
	return st, acct
}

// BenchmarkQueryGet50 is the first screen of a mail client: Email/query
// of a 100,000-message INBOX (newest first, 50) and Email/get of those 50
// with the list properties, in one request.
func BenchmarkQueryGet50(b *testing.B) {
	st, acct := benchStore(b)
	ctx := context.Background()
	inbox, _ := st.GetMailbox(ctx, acct.ID, "INBOX")
	s := New(Options{Store: st, DateIndex: st})
	a := &account{Account: acct, id: accountID(acct.ID)}
	body := `{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:mail"],"methodCalls":[
		["Email/query",{"accountId":"` + a.id + `","filter":{"inMailbox":"` + mailboxID(inbox.ID) + `"},"sort":[{"property":"receivedAt","isAscending":false}],"limit":50,"calculateTotal":true},"q"],
		["Email/get",{"accountId":"` + a.id + `","#ids":{"resultOf":"q","name":"Email/query","path":"/ids"},"properties":["subject","from","receivedAt","keywords","preview","threadId"]},"g"]]}`
	req, p := ParseRequest([]byte(body))
	if p != nil {
		b.Fatal(p)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := s.run(ctx, a, req)
		rs := res["methodResponses"].([]response)
		if rs[1].Name != "Email/get" || len(rs[1].Args.(map[string]any)["list"].([]any)) != 50 {
			b.Fatalf("responses: %v", rs)
		}
	}
}
