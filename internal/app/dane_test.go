package app

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pochta/internal/config"
	"pochta/internal/dnstest"
	"pochta/internal/queue"
)

// TestDANEDeferralInQueue: mail forwarded to remote.test, whose MX has
// DNSSEC-authenticated TLSA records (named by a secure MX answer) but offers no STARTTLS, stays in the
// queue with the reason that `pochta queue show` prints; nothing is sent
// in clear. A message marked "TLS-Required: No" is delivered end to end.
func TestDANEDeferralInQueue(t *testing.T) {
	sk, port := startSink(t) // no STARTTLS
	dnsSrv := dnstest.Start(t, dnstest.Zone{
		"remote.test":    {MX: []dnstest.MX{{Host: "mx.remote.test", Pref: 10}}, AD: true}, // a secure MX answer (RFC 7672 §2.2.1)
		"mx.remote.test": {A: []string{"127.0.0.1"}},
		fmt.Sprintf("_%d._tcp.mx.remote.test", port): {AD: true,
			TLSA: []dnstest.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: strings.Repeat("00", 32)}}},
	})
	var cfg *config.Config
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.DNS.Servers = []string{dnsSrv.Addr()}
		c.Delivery.RemotePort = port
		c.Delivery.DANE = true
		cfg = c
	})
	if err := a.Store.AddAlias(t.Context(), "fwd@example.test", []string{"bob@remote.test"}); err != nil {
		t.Fatal(err)
	}
	msg := "From: <alice@sender.test>\r\nTo: <fwd@example.test>\r\nSubject: protected\r\n\r\nhello\r\n"
	if err := sendPlain(a.Addrs()["smtp"][0], "alice@sender.test", "fwd@example.test", msg); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cfg.DataDir, "queue")
	var last string
	for i := 0; ; i++ {
		items, err := queue.List(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 1 {
			it, _, err := queue.Show(dir, items[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if last = it.Recipients[0].LastError; last != "" {
				break
			}
		}
		if i == 300 {
			t.Fatalf("no deferral recorded within 30s (queue: %v)", items)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(last, "DANE: TLSA records of mx.remote.test require TLS but mx.remote.test [127.0.0.1] does not offer STARTTLS") {
		t.Fatalf("reason %q", last)
	}
	select {
	case <-sk.got:
		t.Fatal("delivered in clear")
	default:
	}

	// "TLS-Required: No" (RFC 8689 §3): the sender asks that the
	// recipient's policy be ignored; that message is delivered.
	msg = "From: <alice@sender.test>\r\nTo: <fwd@example.test>\r\nSubject: anyway\r\nTLS-Required: No\r\n\r\nhello\r\n"
	if err := sendPlain(a.Addrs()["smtp"][0], "alice@sender.test", "fwd@example.test", msg); err != nil {
		t.Fatal(err)
	}
	got := sk.next(t)
	if !strings.Contains(got.data, "Subject: anyway\r\n") || !strings.Contains(got.data, "TLS-Required: No\r\n") || len(got.rcpts) != 1 || got.rcpts[0] != "bob@remote.test" {
		t.Fatalf("delivered %v:\n%s", got.rcpts, got.data)
	}
}
