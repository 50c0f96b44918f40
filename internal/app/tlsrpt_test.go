package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pochta/internal/config"
	"pochta/internal/dnstest"
	"pochta/internal/queue"
	"pochta/internal/tlsrpt"
)

// TestTLSReportSent: the day's sessions with remote.test are reported to
// the address of its _smtp._tls record, through the queue, marked
// TLS-Required: No; a domain without the record gets nothing.
func TestTLSReportSent(t *testing.T) {
	sk, port := startSink(t)
	zone := reportZone()
	zone["quiet.test"] = dnstest.Records{MX: []dnstest.MX{{Host: "mx.remote.test", Pref: 10}}}
	dnsSrv := dnstest.Start(t, zone)
	var cfg *config.Config
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.DNS.Servers = []string{dnsSrv.Addr()}
		c.Delivery.RemotePort = port
		cfg = c
	})
	a.TLSReports.Add(tlsrpt.Session{Domain: "remote.test", PolicyType: tlsrpt.PolicySTS, MXHost: "mx.remote.test"})
	a.TLSReports.Add(tlsrpt.Session{Domain: "remote.test", PolicyType: tlsrpt.PolicySTS, MXHost: "mx.remote.test", Result: "certificate-expired"})
	a.TLSReports.Add(tlsrpt.Session{Domain: "quiet.test", PolicyType: tlsrpt.PolicyNotFound, MXHost: "mx.remote.test"})
	// The counts go to the store (they survive a restart) …
	ctx := t.Context()
	a.flushTLSReports(ctx)
	if names, err := a.Store.ListState(ctx, tlsCountsPrefix); err != nil || len(names) != 1 {
		t.Fatalf("counts in the store: %q, %v", names, err)
	}
	// … where another node of the store has put its own.
	other := tlsrpt.NewRecorder(nil)
	other.Add(tlsrpt.Session{Domain: "remote.test", PolicyType: tlsrpt.PolicySTS, MXHost: "mx.remote.test"})
	for day, data := range other.Drain() {
		if err := a.Store.PutState(ctx, tlsCountsPrefix+day+"/other-1", data); err != nil {
			t.Fatal(err)
		}
	}
	a.sendTLSReports(ctx, time.Now())
	got := sk.next(t)
	if got.from != "postmaster@mx.example.test" || len(got.rcpts) != 1 || got.rcpts[0] != "tls-reports@remote.test" {
		t.Fatalf("report sent from %s to %v", got.from, got.rcpts)
	}
	for _, want := range []string{"TLS-Required: No\r\n", "TLS-Report-Domain: remote.test\r\n", "TLS-Report-Submitter: mx.example.test\r\n",
		"report-type=\"tlsrpt\"", "Content-Type: application/tlsrpt+gzip"} {
		if !strings.Contains(got.data, want) {
			t.Fatalf("report lacks %q:\n%s", want, got.data)
		}
	}
	// The report adds up both nodes' sessions.
	rep := reportOf(t, got.data)
	if len(rep.Policies) != 1 || rep.Policies[0].Summary != (tlsrpt.Summary{Success: 2, Failure: 1}) {
		t.Fatalf("report policies %+v, want 2 successes (one per node) and 1 failure", rep.Policies)
	}
	// The day is claimed and its counts gone: sending again (as another
	// node would) sends nothing.
	if names, _ := a.Store.ListState(ctx, tlsCountsPrefix); len(names) != 0 {
		t.Fatalf("counts left after the report: %q", names)
	}
	a.TLSReports.Add(tlsrpt.Session{Domain: "remote.test", PolicyType: tlsrpt.PolicySTS, MXHost: "mx.remote.test"})
	a.sendTLSReports(ctx, time.Now())
	// Everything queued by sendTLSReports has left the queue: only the
	// one report arrived.
	for i := 0; ; i++ {
		items, err := queue.List(filepath.Join(cfg.DataDir, "queue"))
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			break
		}
		if i == 300 {
			t.Fatalf("queue not empty within 30s: %v", items)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sk.mu.Lock()
	n := len(sk.msgs)
	sk.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d messages arrived, want only the report for remote.test", n)
	}
}

// TestTLSReportPostedHTTPS: a domain whose _smtp._tls record names an
// https: URI gets the day's report POSTed there (gzipped JSON, RFC 8460
// §5.4) to a loopback HTTPS server with its own test CA, besides the
// mailto: copy; a failed POST is retried (§5.5).
func TestTLSReportPostedHTTPS(t *testing.T) {
	type post struct {
		ctype  string
		report tlsrpt.Report
	}
	posts := make(chan post, 4)
	var tries atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tries.Add(1) == 1 { // the first attempt fails: retried
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var p post
		p.ctype = r.Header.Get("Content-Type")
		zr, err := gzip.NewReader(r.Body)
		if err == nil {
			err = json.NewDecoder(zr).Decode(&p.report)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		posts <- p
	}))
	defer srv.Close()
	sk, port := startSink(t)
	dnsSrv := dnstest.Start(t, dnstest.Zone{
		"remote.test":            {MX: []dnstest.MX{{Host: "mx.remote.test", Pref: 10}}},
		"mx.remote.test":         {A: []string{"127.0.0.1"}},
		"_smtp._tls.remote.test": {TXT: []string{"v=TLSRPTv1; rua=" + srv.URL + "/tlsrpt,mailto:tls-reports@remote.test"}},
	})
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.DNS.Servers = []string{dnsSrv.Addr()}
		c.Delivery.RemotePort = port
	})
	a.tlsReportHTTP = srv.Client()
	a.tlsReportRetries = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}
	a.TLSReports.Add(tlsrpt.Session{Domain: "remote.test", PolicyType: tlsrpt.PolicySTS, MXHost: "mx.remote.test"})
	a.TLSReports.Add(tlsrpt.Session{Domain: "remote.test", PolicyType: tlsrpt.PolicySTS, MXHost: "mx.remote.test", Result: "certificate-host-mismatch"})
	a.sendTLSReports(t.Context(), time.Now())
	var p post
	select {
	case p = <-posts:
	case <-time.After(30 * time.Second):
		t.Fatal("no report POSTed within 30s")
	}
	if n := tries.Load(); n != 2 {
		t.Fatalf("%d POSTs, want the failed one and its retry", n)
	}
	if p.ctype != "application/tlsrpt+gzip" || len(p.report.Policies) != 1 || p.report.Policies[0].Summary != (tlsrpt.Summary{Success: 1, Failure: 1}) ||
		p.report.Policies[0].Policy.Domain != "remote.test" || p.report.OrganizationName == "" {
		t.Fatalf("posted %s %+v", p.ctype, p.report)
	}
	if got := sk.next(t); len(got.rcpts) != 1 || got.rcpts[0] != "tls-reports@remote.test" || !strings.Contains(got.data, p.report.ReportID) {
		t.Fatalf("mailto copy: %v", got.rcpts)
	}
}

// TestTLSReportSurvivesRestart: sessions counted before a shutdown are in
// the report the restarted server sends.
func TestTLSReportSurvivesRestart(t *testing.T) {
	sk, port := startSink(t)
	dnsSrv := dnstest.Start(t, reportZone())
	cfg := config.Default()
	cfg.Hostname = "mx.example.test"
	cfg.DataDir = t.TempDir()
	cfg.Listen = config.Listen{}
	cfg.DNS.Servers = []string{dnsSrv.Addr()}
	cfg.Delivery.RemotePort = port
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	start := func() *App {
		a, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := start()
	for range 3 {
		a.TLSReports.Add(tlsrpt.Session{Domain: "remote.test", PolicyType: tlsrpt.PolicySTS, MXHost: "mx.remote.test"})
	}
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	a = start()
	defer a.Shutdown(context.WithoutCancel(ctx))
	a.sendTLSReports(ctx, time.Now())
	got := sk.next(t)
	if !strings.Contains(got.data, "TLS-Report-Domain: remote.test\r\n") {
		t.Fatalf("no report after the restart:\n%s", got.data)
	}
	if rep := reportOf(t, got.data); len(rep.Policies) != 1 || rep.Policies[0].Summary.Success != 3 {
		t.Fatalf("report after the restart: %+v, want the 3 sessions counted before it", rep.Policies)
	}
}

// reportOf decodes the gzipped JSON report of a report mail.
func reportOf(t *testing.T, msg string) tlsrpt.Report {
	t.Helper()
	_, att, _ := strings.Cut(msg, "Content-Type: application/tlsrpt+gzip")
	_, att, _ = strings.Cut(att, "\r\n\r\n")
	att, _, _ = strings.Cut(att, "\r\n--")
	gz, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(att, "\r\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	var rep tlsrpt.Report
	if err := json.NewDecoder(zr).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// reportZone: remote.test's MX is the sink on 127.0.0.1 and its
// _smtp._tls record asks for reports by mail.
func reportZone() dnstest.Zone {
	return dnstest.Zone{
		"remote.test":            {MX: []dnstest.MX{{Host: "mx.remote.test", Pref: 10}}},
		"mx.remote.test":         {A: []string{"127.0.0.1"}},
		"_smtp._tls.remote.test": {TXT: []string{"v=TLSRPTv1; rua=mailto:tls-reports@remote.test"}},
	}
}
