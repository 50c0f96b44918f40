package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	msgdkim "github.com/emersion/go-msgauth/dkim"

	pdns "pochta/internal/dns"
	"pochta/internal/dnstest"
)

// twoDomains starts a test DNS server and two pochta instances: a.test on
// 127.0.0.2 and b.test on 127.0.0.3, both receiving SMTP on one common
// port that each uses as delivery.remote_port — the seeds' John and Kate.
type twoDomains struct {
	dns  *dnstest.Server
	a, b *instance
	port int
}

func startTwoDomains(t testing.TB, extraA string) *twoDomains {
	t.Helper()
	port := freePort(t, "127.0.0.2")
	srv := dnstest.Start(t, dnstest.Zone{
		"a.test":        {MX: []dnstest.MX{{Host: "mx.a.test", Pref: 10}}, TXT: []string{"v=spf1 mx -all"}},
		"_dmarc.a.test": {TXT: []string{"v=DMARC1; p=reject"}},
		"mx.a.test":     {A: []string{"127.0.0.2"}},
		"b.test":        {MX: []dnstest.MX{{Host: "mx.b.test", Pref: 10}}},
		"mx.b.test":     {A: []string{"127.0.0.3"}},
		"127.0.0.2":     {PTR: []string{"mx.a.test"}},
		"127.0.0.3":     {PTR: []string{"mx.b.test"}},
		"dead.test":     {A: []string{"127.0.0.9"}}, // nothing listens there
		"c.test":        {A: []string{"127.0.0.3"}}, // no MX: implicit MX (RFC 5321 §5.1)
		"null.test":     {MX: []dnstest.MX{{Host: ".", Pref: 0}}},
		"second.test":   {MX: []dnstest.MX{{Host: "dead.test", Pref: 10}, {Host: "mx.b.test", Pref: 20}}},
	})
	queue := "\n[queue]\nfirst_retry = \"1s\"\nmax_retry = \"2s\"\n"
	d := &twoDomains{dns: srv, port: port}
	d.a = newInstance(t, instanceOptions{Hostname: "mx.a.test", IP: "127.0.0.2", Ports: map[string]int{"smtp": port},
		DNS: srv.Addr(), RemotePort: port, Extra: queue + extraA})
	d.b = newInstance(t, instanceOptions{Hostname: "mx.b.test", IP: "127.0.0.3", Ports: map[string]int{"smtp": port},
		DNS: srv.Addr(), RemotePort: port, Extra: queue})
	d.a.addUser("john@a.test", "john-pw")
	d.b.addUser("kate@b.test", "kate-pw")
	// John's domain signs with DKIM; its public key is published.
	rec := d.a.run("", "dkim keygen", "a.test")
	m := regexp.MustCompile(`(?m)^(\S+)\. IN TXT "([^"]+)"`).FindStringSubmatch(rec)
	if m == nil {
		t.Fatalf("dkim keygen printed no TXT record:\n%s", rec)
	}
	srv.Set(m[1], dnstest.Records{TXT: []string{m[2]}})
	d.a.start()
	d.b.start()
	return d
}

// submit sends with Python's smtplib through in's submission port
// (STARTTLS + AUTH).
func submit(t testing.TB, in *instance, user, pass, from, to, subject string) string {
	t.Helper()
	h, p := hostPort(t, in.addr["submission"])
	return python(t, "smtp_send.py", h, p, "starttls", from, to, subject, user, pass)
}

// waitMailbox polls an IMAP mailbox until it holds a message containing
// every one of wants, and returns that message.
func waitMailbox(t testing.TB, in *instance, user, pass, mailbox string, wants ...string) string {
	t.Helper()
	h, p := hostPort(t, in.addr["imap"])
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := python(t, "imap_fetch.py", h, p, user, pass, mailbox)
		for _, msg := range strings.Split(out, "\nuid ") {
			ok := true
			for _, w := range wants {
				ok = ok && strings.Contains(msg, w)
			}
			if ok && len(wants) > 0 {
				return msg
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s never got a message with %q; it has:\n%s", user, mailbox, wants, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestJourney is the seeds' story: John (a.test) writes to Kate (b.test)
// through a.test's submission service; a.test's queue finds b.test's MX and
// delivers on port 25; Kate reads over IMAP and POP3 and replies; John reads
// the reply.
func TestJourney(t *testing.T) {
	d := startTwoDomains(t, "")
	submit(t, d.a, "john@a.test", "john-pw", "john@a.test", "kate@b.test", "My trip to the mountains")
	msg := waitMailbox(t, d.b, "kate@b.test", "kate-pw", "INBOX", "Subject: My trip to the mountains")
	for _, want := range []string{"Return-Path: <john@a.test>", "by mx.b.test", "by mx.a.test", "Message-ID:", "Date:", "DKIM-Signature:",
		// b.test's inbound checks: a.test's server is who it says.
		"Authentication-Results: mx.b.test;", "iprev=pass policy.iprev=127.0.0.2 (mx.a.test)",
		"spf=pass smtp.mailfrom=john@a.test", "dkim=pass header.d=a.test", "dmarc=pass (p=reject) header.from=a.test"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Kate's copy lacks %q:\n%s", want, msg)
		}
	}
	// The signature verifies against the published key (go-msgauth's
	// verifier, our resolver pointed at the test DNS server).
	raw := imapRaw(t, d.b, "kate@b.test", "kate-pw")
	verifs, err := msgdkim.VerifyWithOptions(bytes.NewReader(raw[0]), &msgdkim.VerifyOptions{
		LookupTXT: pdns.New([]string{d.dns.Addr()}, 2*time.Second).TXTFunc(context.Background()),
	})
	if err != nil || len(verifs) != 1 || verifs[0].Err != nil || verifs[0].Domain != "a.test" {
		t.Fatalf("DKIM verification: %v %+v", err, verifs)
	}
	ph, pp := hostPort(t, d.b.addr["pop3"])
	if out := python(t, "pop3_fetch.py", ph, pp, "kate@b.test", "kate-pw"); !strings.Contains(out, "My trip to the mountains") {
		t.Fatalf("POP3 does not show the message:\n%s", out)
	}
	submit(t, d.b, "kate@b.test", "kate-pw", "kate@b.test", "john@a.test", "Re: My trip to the mountains")
	waitMailbox(t, d.a, "john@a.test", "john-pw", "INBOX", "Subject: Re: My trip to the mountains", "Return-Path: <kate@b.test>")
	// The sent copy is John's client's business (IMAP APPEND to Sent); the
	// server-side queue must be empty once both are delivered.
	waitQueueEmpty(t, d.a)
	waitQueueEmpty(t, d.b)
}

func waitQueueEmpty(t testing.TB, in *instance) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := in.run("", "queue list")
		if strings.Contains(out, "queue is empty") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue of %s never emptied:\n%s", in.config, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestDeliveryFailures covers what can go wrong between two servers.
func TestDeliveryFailures(t *testing.T) {
	d := startTwoDomains(t, "expire = \"8s\"\n")
	d.b.run("", "domain add", "c.test")
	d.b.run("", "domain add", "second.test")
	d.b.addUser("kate@c.test", "kate-pw")
	d.b.addUser("kate@second.test", "kate-pw")
	d.b.addUser("full@b.test", "full-pw")
	bh, bp := hostPort(t, d.b.addr["smtp"])
	python(t, "smtp_send.py", bh, bp, "plain", "x@remote.test", "full@b.test", "fills the mailbox")
	d.b.run("", "user quota", "full@b.test", "100") // now over quota: 452 4.2.2 at RCPT

	// No MX, only an A record: delivered to the A address.
	submit(t, d.a, "john@a.test", "john-pw", "john@a.test", "kate@c.test", "implicit MX")
	waitMailbox(t, d.b, "kate@c.test", "kate-pw", "INBOX", "Subject: implicit MX")

	// First MX is down: the second takes it.
	submit(t, d.a, "john@a.test", "john-pw", "john@a.test", "kate@second.test", "second MX")
	waitMailbox(t, d.b, "kate@second.test", "kate-pw", "INBOX", "Subject: second MX")

	// 5xx from the remote: John gets a DSN quoting it.
	submit(t, d.a, "john@a.test", "john-pw", "john@a.test", "nobody@b.test", "to nobody")
	dsn := waitMailbox(t, d.a, "john@a.test", "john-pw", "INBOX", "nobody@b.test", "multipart/report")
	for _, want := range []string{"report-type=delivery-status", "Action: failed", "5.1.1", "Subject: to nobody"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn)
		}
	}

	// Null MX (RFC 7505): fails at once.
	submit(t, d.a, "john@a.test", "john-pw", "john@a.test", "someone@null.test", "to null MX")
	waitMailbox(t, d.a, "john@a.test", "john-pw", "INBOX", "someone@null.test", "Action: failed")

	// 4xx (the remote mailbox is full), then the admin lifts the quota:
	// the queue retries and the message arrives.
	submit(t, d.a, "john@a.test", "john-pw", "john@a.test", "full@b.test", "retry me")
	time.Sleep(2 * time.Second)
	if out := d.a.run("", "queue list"); !strings.Contains(out, "full@b.test") {
		t.Fatalf("4xx recipient not waiting in the queue:\n%s", out)
	}
	d.b.run("", "user quota", "full@b.test", "0")
	d.a.run("", "queue flush")
	waitMailbox(t, d.b, "full@b.test", "full-pw", "INBOX", "Subject: retry me")

	// Unreachable for longer than queue.expire: DSN with 4.4.7.
	submit(t, d.a, "john@a.test", "john-pw", "john@a.test", "x@dead.test", "will expire")
	waitMailbox(t, d.a, "john@a.test", "john-pw", "INBOX", "x@dead.test", "Action: failed", "4.4.7")
}

// TestQueueSurvivesKill: a message waiting in the queue survives kill -9
// and is delivered after the restart.
func TestQueueSurvivesKill(t *testing.T) {
	d := startTwoDomains(t, "")
	d.b.run("", "domain add", "later.test")
	d.b.addUser("kate@later.test", "kate-pw")
	d.dns.Set("later.test", dnstest.Records{MX: []dnstest.MX{{Host: "dead.test", Pref: 10}}})
	submit(t, d.a, "john@a.test", "john-pw", "john@a.test", "kate@later.test", "queued across a crash")
	time.Sleep(500 * time.Millisecond)
	if out := d.a.run("", "queue list"); !strings.Contains(out, "kate@later.test") {
		t.Fatalf("message not queued:\n%s", out)
	}
	d.a.kill()
	d.dns.Set("later.test", dnstest.Records{MX: []dnstest.MX{{Host: "mx.b.test", Pref: 10}}})
	d.a.start()
	d.a.run("", "queue flush")
	waitMailbox(t, d.b, "kate@later.test", "kate-pw", "INBOX", "Subject: queued across a crash")
}

// imapRaw returns the exact bytes of every INBOX message, with go-imap's
// client over STARTTLS.
func imapRaw(t *testing.T, in *instance, user, pass string) [][]byte {
	t.Helper()
	c, err := imapclient.DialStartTLS(in.addr["imap"], &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		for _, b := range m.BodySection {
			out = append(out, b.Bytes)
		}
	}
	return out
}
