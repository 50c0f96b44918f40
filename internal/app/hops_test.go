package app

import (
	"context"
	"errors"
	"net/textproto"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	gosmtp "github.com/emersion/go-smtp"

	"pochta/internal/config"
	"pochta/internal/dkim"
	"pochta/internal/dns"
	"pochta/internal/dnstest"
)

// remoteWorld is a test app for example.test whose remote.test MX is a
// loopback go-smtp sink (hooks set by edit).
func remoteWorld(t *testing.T, edit func(*sink), cfgEdit func(*config.Config)) (*App, *sink) {
	t.Helper()
	sk, port := startSinkWith(t, edit)
	dnsSrv := dnstest.Start(t, dnstest.Zone{
		"remote.test":    {MX: []dnstest.MX{{Host: "mx.remote.test", Pref: 10}}},
		"mx.remote.test": {A: []string{"127.0.0.1"}},
	})
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.DNS.Servers = []string{dnsSrv.Addr()}
		c.Delivery.RemotePort = port
		if cfgEdit != nil {
			cfgEdit(c)
		}
	})
	return a, sk
}

// activeSieve gives addr's account the active Sieve script text.
func activeSieve(t *testing.T, a *App, addr, text string) {
	t.Helper()
	ctx := context.Background()
	acct, err := a.Store.GetAccount(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.PutSieveScript(ctx, acct.ID, "test", text); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.ActivateSieveScript(ctx, acct.ID, "test"); err != nil {
		t.Fatal(err)
	}
}

// TestGeneratedMailSigned: mail the server writes itself leaves for a
// remote domain DKIM-signed with our domain's key, as submitted mail
// does: a Sieve vacation reply (From: the user) and a DSN (From:
// MAILER-DAEMON@mx.example.test, signed by example.test, its parent).
// Both verify with go-msgauth against the key published in test DNS.
func TestGeneratedMailSigned(t *testing.T) {
	a, sk := remoteWorld(t, func(s *sink) {
		s.refuse = func(rcpt string) error {
			if rcpt == "gone@remote.test" {
				return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
			}
			return nil
		}
	}, nil)
	ctx := context.Background()
	if _, err := dkim.KeygenState(ctx, a.Store, "example.test", "s1", "ed25519"); err != nil {
		t.Fatal(err)
	}
	a.ReloadKeys(ctx)
	k := a.outbound.signer.Load().Keys()[0]
	keyDNS := dnstest.Start(t, dnstest.Zone{k.TXTName(): {TXT: []string{k.TXTValue()}}})
	verify := func(what string, msg sunk) {
		t.Helper()
		vs, err := msgdkim.VerifyWithOptions(strings.NewReader(msg.data), &msgdkim.VerifyOptions{
			LookupTXT: dns.New([]string{keyDNS.Addr()}, 2*time.Second).TXTFunc(ctx),
		})
		if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.test" {
			t.Fatalf("%s: DKIM verification %v %+v\n%s", what, err, vs, msg.data)
		}
	}

	activeSieve(t, a, "kate@example.test", `require "vacation"; vacation :days 1 :subject "Away" "I am away.";`)
	smtpAddr := a.Addrs()["smtp"][0]
	if err := sendPlain(smtpAddr, "alice@remote.test", "kate@example.test",
		"From: <alice@remote.test>\r\nTo: <kate@example.test>\r\nSubject: Hi\r\nMessage-ID: <hi@remote.test>\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	reply := sk.next(t)
	if reply.from != "" || len(reply.rcpts) != 1 || reply.rcpts[0] != "alice@remote.test" || !strings.Contains(reply.data, "Subject: Away") {
		t.Fatalf("vacation reply MAIL FROM:<%s> RCPT %v:\n%s", reply.from, reply.rcpts, reply.data)
	}
	verify("vacation reply", reply)

	// An alias to a remote address that does not exist: the DSN.
	if err := a.Store.AddAlias(ctx, "fwd@example.test", []string{"gone@remote.test"}); err != nil {
		t.Fatal(err)
	}
	if err := sendPlain(smtpAddr, "alice@remote.test", "fwd@example.test",
		"From: <alice@remote.test>\r\nTo: <fwd@example.test>\r\nSubject: To be bounced\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	dsn := sk.next(t)
	if dsn.from != "" || len(dsn.rcpts) != 1 || dsn.rcpts[0] != "alice@remote.test" ||
		!strings.Contains(dsn.data, "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>") || !strings.Contains(dsn.data, "Status: 5.1.1") {
		t.Fatalf("DSN MAIL FROM:<%s> RCPT %v:\n%s", dsn.from, dsn.rcpts, dsn.data)
	}
	verify("DSN", dsn)
}

// TestAliasLoopBounces: an alias loop on this server (loop1@ → loop2@ →
// loop1@) refuses mail at RCPT (554 5.4.6); mail that reaches it through
// the queue (a Sieve redirect) is bounced to its sender with 5.4.6 once,
// and nothing else is delivered or left in the queue.
func TestAliasLoopBounces(t *testing.T) {
	a, sk := remoteWorld(t, nil, nil)
	ctx := context.Background()
	for alias, target := range map[string]string{"loop1@example.test": "loop2@example.test", "loop2@example.test": "loop1@example.test"} {
		if err := a.Store.AddAlias(ctx, alias, []string{target}); err != nil {
			t.Fatal(err)
		}
	}
	smtpAddr := a.Addrs()["smtp"][0]
	err := sendPlain(smtpAddr, "alice@remote.test", "loop1@example.test", "Subject: loop\r\n\r\nx\r\n")
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 554 || !strings.HasPrefix(te.Msg, "5.4.6 ") {
		t.Fatalf("RCPT to an alias loop: %v, want 554 5.4.6", err)
	}

	activeSieve(t, a, "kate@example.test", `redirect "loop1@example.test";`)
	if err := sendPlain(smtpAddr, "alice@remote.test", "kate@example.test",
		"From: <alice@remote.test>\r\nTo: <kate@example.test>\r\nSubject: Round and round\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	dsn := sk.next(t)
	if dsn.from != "" || len(dsn.rcpts) != 1 || dsn.rcpts[0] != "alice@remote.test" ||
		!strings.Contains(dsn.data, "Status: 5.4.6") || !strings.Contains(dsn.data, "Alias loop") {
		t.Fatalf("DSN MAIL FROM:<%s> RCPT %v:\n%s", dsn.from, dsn.rcpts, dsn.data)
	}
	waitAppQueueEmpty(t, a)
	sk.mu.Lock()
	n := len(sk.msgs)
	sk.mu.Unlock()
	if n != 1 {
		t.Fatalf("the remote server got %d messages, want the one DSN", n)
	}
	kate, err := a.Store.GetAccount(ctx, "kate@example.test")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := a.Store.GetMailbox(ctx, kate.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := a.Store.Status(ctx, inbox.ID); err != nil || st.Messages != 0 {
		t.Fatalf("kate's INBOX: %+v %v, want empty (redirected)", st, err)
	}
}

// TestRemoteLoopEnds: an alias that forwards to a remote address whose
// server sends everything straight back (adding its Received, as every
// MTA does) loops until the message carries limits.max_hops Received
// fields; then our port 25 refuses it with 554 5.4.6. Bounded: at most
// max_hops/2 rounds.
func TestRemoteLoopEnds(t *testing.T) {
	const maxHops = 10
	results := make(chan error, maxHops)
	var smtpAddr string
	ready := make(chan struct{})
	a, sk := remoteWorld(t, func(s *sink) {
		s.then = func(m sunk) { // mx.remote.test forwards back to fwd@example.test
			<-ready
			results <- sendPlain(smtpAddr, m.from, "fwd@example.test",
				"Received: from mx.example.test by mx.remote.test;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n"+m.data)
		}
	}, func(c *config.Config) { c.Limits.MaxHops = maxHops })
	smtpAddr = a.Addrs()["smtp"][0]
	close(ready)
	if err := a.Store.AddAlias(context.Background(), "fwd@example.test", []string{"echo@remote.test"}); err != nil {
		t.Fatal(err)
	}
	if err := sendPlain(smtpAddr, "alice@remote.test", "fwd@example.test", "From: <alice@remote.test>\r\nSubject: echo\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	for round := 1; ; round++ {
		var err error
		select {
		case err = <-results:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: nothing came back within 30 s", round)
		}
		if err == nil {
			if round > maxHops/2 {
				t.Fatalf("the loop went on for %d rounds", round)
			}
			continue
		}
		var te *textproto.Error
		if !errors.As(err, &te) || te.Code != 554 || !strings.HasPrefix(te.Msg, "5.4.6 ") {
			t.Fatalf("round %d: %v, want 554 5.4.6", round, err)
		}
		break
	}
	sk.mu.Lock()
	last := sk.msgs[len(sk.msgs)-1]
	sk.mu.Unlock()
	if n := strings.Count(last.data, "Received:"); n != maxHops-1 {
		t.Errorf("the last message forwarded carried %d Received fields, want %d", n, maxHops-1)
	}
	waitAppQueueEmpty(t, a)
}

// waitAppQueueEmpty waits (bounded) until the app's queue holds nothing.
func waitAppQueueEmpty(t *testing.T, a *App) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		qm, err := a.Manager().Queue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		items, err := qm.List(context.Background())
		qm.Close()
		if err == nil && len(items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not empty after 30 s: %+v %v", items, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
