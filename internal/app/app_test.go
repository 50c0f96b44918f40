package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/smtp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/config"
)

// startApp runs the whole server with every service on a free loopback
// port and one account, kate@example.test, password "pw".
func startApp(t testing.TB) *App { return startAppWith(t, "kate@example.test", nil) }

// startAppWith is startApp with the one account's address and changes to
// the configuration (edit may be nil).
func startAppWith(t testing.TB, account string, edit func(*config.Config)) *App {
	t.Helper()
	a := runApp(t, edit)
	ctx := context.Background()
	if err := a.Store.AddDomain(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	h, _ := auth.Hash("pw")
	if _, err := a.Store.AddAccount(ctx, account, h); err != nil {
		t.Fatal(err)
	}
	return a
}

// runApp starts the whole server with every service on a free loopback
// port, stopped when the test ends.
func runApp(t testing.TB, edit func(*config.Config)) *App {
	t.Helper()
	cfg := config.Default()
	cfg.Hostname = "mx.example.test"
	cfg.DataDir = t.TempDir()
	one := []string{"127.0.0.1:0"}
	cfg.Listen = config.Listen{SMTP: one, Submission: one, Submissions: one, IMAP: one, IMAPS: one, POP3: one, POP3S: one, HTTP: one}
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return a
}

func TestServicesAndHTTP(t *testing.T) {
	a := startApp(t)
	addrs := a.Addrs()
	for _, s := range []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http"} {
		if len(addrs[s]) != 1 {
			t.Fatalf("service %s not listening: %v", s, addrs)
		}
	}
	resp, err := http.Get("http://" + addrs["http"][0] + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "ok" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, b)
	}
	resp, err = http.Get("http://" + addrs["http"][0] + "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=kate@example.test")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`<incomingServer type="imap">`, "<socketType>SSL</socketType>", `<outgoingServer type="smtp">`, "<domain>example.test</domain>"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("autoconfig lacks %s:\n%s", want, b)
		}
	}
}

// BenchmarkInboundSMTP measures inbound delivery through the real SMTP
// server into the store, fsync included: 4 KiB messages from 1 and 50
// concurrent net/smtp sessions. msgs/s is the figure quoted in README.
func BenchmarkInboundSMTP(b *testing.B) {
	for _, senders := range []int{1, 50} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			a := startApp(b)
			addr := a.Addrs()["smtp"][0]
			body := []byte("From: <bench@remote.test>\r\nTo: <kate@example.test>\r\nSubject: bench\r\n\r\n" +
				strings.Repeat(strings.Repeat("x", 62)+"\r\n", 64))
			b.SetBytes(int64(len(body)))
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, senders)
			b.ResetTimer()
			start := time.Now()
			for s := 0; s < senders; s++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := smtp.Dial(addr)
					if err != nil {
						errs <- err
						return
					}
					defer c.Quit()
					for next.Add(1) <= int64(b.N) {
						if err := sendOne(c, body); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		})
	}
}

func sendOne(c *smtp.Client, body []byte) error {
	return sendFromTo(c, "bench@remote.test", "kate@example.test", body)
}

// sendFromTo sends one message with the given envelope on c.
func sendFromTo(c *smtp.Client, from, to string, body []byte) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Close()
}
