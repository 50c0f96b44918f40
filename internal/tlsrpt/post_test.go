package tlsrpt_test

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"pochta/internal/tlsrpt"
)

// reportSink is a loopback HTTPS server (its own test CA, trusted only
// by Client) that keeps what is POSTed to it.
type reportSink struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte // gunzipped
	types  []string
	status int
}

func startReportSink(t *testing.T) *reportSink {
	t.Helper()
	s := &reportSink{status: http.StatusOK}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/tlsrpt" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.bodies = append(s.bodies, data)
		s.types = append(s.types, r.Header.Get("Content-Type"))
		w.WriteHeader(s.status)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestPostHTTPS: a report is POSTed to an https: rua as gzipped JSON
// with Content-Type application/tlsrpt+gzip (RFC 8460 §5.4), valid
// against the schema; a non-2xx answer, an untrusted certificate and a
// plain http: URI are errors.
func TestPostHTTPS(t *testing.T) {
	sink := startReportSink(t)
	day := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := tlsrpt.NewRecorder(func() time.Time { return day })
	r.Add(tlsrpt.Session{Domain: "remote.test", PolicyType: tlsrpt.PolicySTS, MXHost: "mx.remote.test"})
	r.Add(tlsrpt.Session{Domain: "remote.test", PolicyType: tlsrpt.PolicySTS, MXHost: "mx.remote.test", Result: "certificate-expired"})
	rep := r.Take(day, "pochta mx.sender.test", "postmaster@sender.test")["remote.test"]
	ctx := context.Background()
	uri := sink.URL + "/tlsrpt"
	if err := tlsrpt.Post(ctx, sink.Client(), uri, rep); err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	if len(sink.bodies) != 1 || sink.types[0] != "application/tlsrpt+gzip" {
		t.Fatalf("%d posts, types %v", len(sink.bodies), sink.types)
	}
	body := sink.bodies[0]
	sink.mu.Unlock()
	validate(t, [][]byte{body})
	var got tlsrpt.Report
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ReportID != rep.ReportID || len(got.Policies) != 1 || got.Policies[0].Summary != (tlsrpt.Summary{Success: 1, Failure: 1}) {
		t.Fatalf("posted %+v", got)
	}

	sink.mu.Lock()
	sink.status = http.StatusServiceUnavailable
	sink.mu.Unlock()
	if err := tlsrpt.Post(ctx, sink.Client(), uri, rep); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("503 answer: %v", err)
	}
	untrusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	if err := tlsrpt.Post(ctx, untrusting, uri, rep); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	if err := tlsrpt.Post(ctx, sink.Client(), strings.Replace(uri, "https:", "http:", 1), rep); err == nil {
		t.Fatal("http: URI accepted")
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.bodies) != 2 { // the 503 one arrived, the others never left
		t.Fatalf("%d posts arrived, want 2", len(sink.bodies))
	}
}
