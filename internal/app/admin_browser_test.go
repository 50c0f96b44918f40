package app

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"pochta/internal/config"
	"pochta/internal/dnstest"
	"pochta/internal/envelope"
	"pochta/internal/queue"
)

// browser starts Debian's chromium headless for the test (chromedp).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is needed for the browser tests: apt-get install chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(420, 900)) // a phone-sized window
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// closedPort is a loopback port nobody listens on (connections are refused).
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// TestAdminInBrowser drives the web admin in a real browser against the
// whole server: a non-admin is refused; the admin logs in, creates a
// domain and sees its DNS records and the live check (from a test DNS
// server), creates a user, retries a queued message (the queue makes
// a new attempt); a form POSTed without its CSRF token is refused.
func TestAdminInBrowser(t *testing.T) {
	dnsSrv := dnstest.Start(t, dnstest.Zone{
		"shop.test":      {MX: []dnstest.MX{{Host: "mx.example.test", Pref: 10}}},
		"remote.test":    {MX: []dnstest.MX{{Host: "mx.remote.test", Pref: 10}}},
		"mx.remote.test": {A: []string{"127.0.0.1"}},
	})
	var cfg *config.Config
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.DNS.Servers = []string{dnsSrv.Addr()}
		c.Delivery.RemotePort = closedPort(t) // remote delivery is deferred
		c.Delivery.MTASTS, c.Delivery.DANE = false, false
		cfg = c
	})
	ctx := context.Background()
	if _, err := a.Manager().AddAccount(ctx, "boss@example.test", "boss-password", true); err != nil {
		t.Fatal(err)
	}
	id, err := a.Queue.Enqueue(ctx, envelope.Envelope{From: "kate@example.test", Recipients: []envelope.Recipient{{Address: "bob@remote.test"}}},
		[]byte("From: <kate@example.test>\r\nTo: <bob@remote.test>\r\nSubject: waiting\r\n\r\nhello\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	qdir := filepath.Join(cfg.DataDir, "queue")
	attempts := func() int {
		it, _, err := queue.Show(qdir, id)
		if err != nil {
			t.Fatal(err)
		}
		return it.Recipients[0].Attempts
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for i := 0; !cond(); i++ {
			if i == 200 {
				t.Fatalf("%s: not within 20s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("first delivery attempt", func() bool { return attempts() >= 1 })

	base := "http://" + a.Addrs()["http"][0]
	b := browser(t)
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(b, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		do(chromedp.WaitVisible(sel))
		s, err := chromedp.Run(b, chromedp.Text(sel))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// POCHTA_SCREENSHOTS=DIR keeps pictures of the main pages (phone-sized).
	shot := func(name string) {
		t.Helper()
		dir := os.Getenv("POCHTA_SCREENSHOTS")
		if dir == "" {
			return
		}
		png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "admin-"+name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	login := func(user, pass string) {
		t.Helper()
		do(chromedp.Navigate(base+"/admin/"),
			chromedp.WaitVisible(`input[name=username]`),
			chromedp.SendKeys(`input[name=username]`, user),
			chromedp.SendKeys(`input[name=password]`, pass),
			chromedp.Click(`#login`))
	}

	// A non-admin is refused.
	login("kate@example.test", "pw")
	if msg := text(`#error`); !strings.Contains(msg, "may not use the admin") {
		t.Fatalf("non-admin login: %q", msg)
	}

	// The admin logs in and adds a domain: its page lists the records,
	// and the live check shows what the DNS server has.
	login("boss@example.test", "boss-password")
	if received := text(`#received`); received != "0" {
		t.Errorf("dashboard: %q messages received, want 0", received)
	}
	shot("dashboard")
	do(chromedp.Navigate(base+"/admin/domains"),
		chromedp.WaitVisible(`#new-domain`),
		chromedp.SendKeys(`#new-domain`, "shop.test"),
		chromedp.Click(`#add-domain`))
	records := text(`#dns-records`)
	for _, want := range []string{"shop.test. IN MX 10 mx.example.test.", `"v=spf1 mx -all"`, "_imaps._tcp.shop.test. IN SRV "} {
		if !strings.Contains(records, want) {
			t.Errorf("DNS records lack %q:\n%s", want, records)
		}
	}
	do(chromedp.Click(`#check-dns`))
	check := text(`#dns-check`)
	shot("domain")
	if !strings.Contains(check, "shop.test.\tMX\tok") || !strings.Contains(check, "TXT\tmissing") {
		t.Errorf("DNS check:\n%q", check)
	}
	if _, err := a.Store.GetDomain(ctx, "shop.test"); err != nil {
		t.Fatalf("domain not in the store: %v", err)
	}

	// A user in the new domain, with a generated password that works.
	do(chromedp.Navigate(base+"/admin/accounts"),
		chromedp.WaitVisible(`#new-address`),
		chromedp.SendKeys(`#new-address`, "ann@shop.test"),
		chromedp.Click(`#add-account`))
	msg := text(`#flash`)
	if !strings.Contains(msg, "Account ann@shop.test added. Its password (shown once): ") {
		t.Fatalf("add account: %q", msg)
	}
	pw := msg[strings.LastIndex(msg, " ")+1:]
	shot("accounts")
	if _, err := a.Auth.Login(ctx, "ann@shop.test", pw, netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatalf("the new account cannot log in with the shown password: %v", err)
	}

	// Retry the queued message: the queue makes another attempt at once.
	before := attempts()
	do(chromedp.Navigate(base+"/admin/queue"), chromedp.WaitVisible(`#retry-`+id), chromedp.Click(`#retry-`+id))
	if msg := text(`#flash`); !strings.Contains(msg, "will be retried now") {
		t.Fatalf("retry: %q", msg)
	}
	waitFor("the retried attempt", func() bool { return attempts() > before })

	// The add-domain form without its CSRF token is refused.
	do(chromedp.Navigate(base+"/admin/domains"), chromedp.WaitVisible(`#new-domain`))
	if _, err := chromedp.Run(b, chromedp.Evaluate[any](`document.querySelector('#add-domain').form.querySelector('input[name=csrf]').remove()`)); err != nil {
		t.Fatal(err)
	}
	do(chromedp.SendKeys(`#new-domain`, "evil.test"), chromedp.Click(`#add-domain`))
	if msg := text(`#error`); !strings.Contains(msg, "CSRF") {
		t.Fatalf("POST without the token: %q", msg)
	}
	if _, err := a.Store.GetDomain(ctx, "evil.test"); err == nil {
		t.Fatal("the refused POST added a domain")
	}
}
