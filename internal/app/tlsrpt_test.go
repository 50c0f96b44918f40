package app

import (
	"compress/gzip"
	"encoding/json"
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
	dnsSrv := dnstest.Start(t, dnstest.Zone{
		"remote.test":            {MX: []dnstest.MX{{Host: "mx.remote.test", Pref: 10}}},
		"mx.remote.test":         {A: []string{"127.0.0.1"}},
		"_smtp._tls.remote.test": {TXT: []string{"v=TLSRPTv1; rua=mailto:tls-reports@remote.test"}},
		"quiet.test":             {MX: []dnstest.MX{{Host: "mx.remote.test", Pref: 10}}},
	})
	var cfg *config.Config
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.DNS.Servers = []string{dnsSrv.Addr()}
		c.Delivery.RemotePort = port
		cfg = c
	})
	a.TLSReports.Add(tlsrpt.Session{Domain: "remote.test", PolicyType: tlsrpt.PolicySTS, MXHost: "mx.remote.test"})
	a.TLSReports.Add(tlsrpt.Session{Domain: "remote.test", PolicyType: tlsrpt.PolicySTS, MXHost: "mx.remote.test", Result: "certificate-expired"})
	a.TLSReports.Add(tlsrpt.Session{Domain: "quiet.test", PolicyType: tlsrpt.PolicyNotFound, MXHost: "mx.remote.test"})
	a.sendTLSReports(t.Context(), time.Now())
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
