package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/smtp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"pochta/internal/auth"
	"pochta/internal/config"
)

// scrape fetches url and parses the Prometheus text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return fams
}

// sample is the value of the family's metric with all of labels (0 when
// there is none).
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

// TestMetrics scrapes /metrics on the metrics listener and parses it:
// an SMTP delivery, a refused recipient, a failed and a good login, an
// open session and the queue all move their series; /healthz and
// /readyz answer; the http listener's /metrics answers loopback.
func TestMetrics(t *testing.T) {
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.Listen.Metrics = []string{"127.0.0.1:0"}
	})
	base := "http://" + a.Addrs()["metrics"][0]
	before := scrape(t, base+"/metrics")
	if _, ok := before["pochta_queue_messages"]; !ok {
		t.Fatalf("no pochta_queue_messages in %v", keys(before))
	}

	c, err := smtp.Dial(a.Addrs()["smtp"][0])
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("From: <x@remote.test>\r\nTo: <kate@example.test>\r\nSubject: hi\r\n\r\nhello\r\n")
	if err := sendFromTo(c, "x@remote.test", "kate@example.test", body); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("x@remote.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("nobody@elsewhere.test"); err == nil {
		t.Fatal("relay accepted")
	}
	ip := netip.MustParseAddr("127.0.0.1")
	if _, err := a.Auth.For(auth.ProtoIMAP).Login(context.Background(), "kate@example.test", "wrong", ip); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := a.Auth.For(auth.ProtoIMAP).Login(context.Background(), "kate@example.test", "pw", ip); err != nil {
		t.Fatal(err)
	}

	after := scrape(t, base+"/metrics")
	c.Quit()
	for _, w := range []struct {
		name   string
		labels map[string]string
	}{
		{"pochta_smtp_transactions_total", map[string]string{"service": "smtp", "result": "accepted"}},
		{"pochta_smtp_recipients_rejected_total", map[string]string{"service": "smtp", "reason": "550 5.7.1"}},
		{"pochta_logins_total", map[string]string{"protocol": "imap", "result": "failed"}},
		{"pochta_logins_total", map[string]string{"protocol": "imap", "result": "ok"}},
		{"pochta_store_seconds", map[string]string{"op": "deliver"}},
	} {
		if d := sample(after, w.name, w.labels) - sample(before, w.name, w.labels); d != 1 {
			t.Errorf("%s%v moved by %v, want 1", w.name, w.labels, d)
		}
	}
	// The SMTP session was open while scraping; the scrape's own
	// connection counts on the metrics listener.
	if n := sample(after, "pochta_sessions_open", map[string]string{"service": "smtp"}); n != 1 {
		t.Errorf("open smtp sessions = %v, want 1", n)
	}
	if n := sample(after, "pochta_queue_messages", nil); n != 0 {
		t.Errorf("queue messages = %v, want 0", n)
	}
	// The delivered message reaches the search index in the background:
	// the backlog is there, and empties (bounded wait).
	if _, ok := before["pochta_search_index_backlog"]; !ok {
		t.Fatalf("no pochta_search_index_backlog in %v", keys(before))
	}
	for deadline := time.Now().Add(30 * time.Second); sample(scrape(t, base+"/metrics"), "pochta_search_index_backlog", nil) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("search index backlog not empty after 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		for _, host := range []string{base, "http://" + a.Addrs()["http"][0]} {
			resp, err := http.Get(host + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "ok" {
				t.Errorf("%s%s: %d %q", host, path, resp.StatusCode, b)
			}
		}
	}
	if fams := scrape(t, "http://"+a.Addrs()["http"][0]+"/metrics"); fams["pochta_logins_total"] == nil {
		t.Error("the http listener's /metrics lacks pochta_logins_total")
	}
}

func keys(m map[string]*dto.MetricFamily) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
