package tlsrpt_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pochta/internal/tlsrpt"
)

// validate checks each report against testdata/tlsrpt.schema.json with
// python3-jsonschema (one process for all).
func validate(t *testing.T, reports [][]byte) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 (and python3-jsonschema) needed: ", err)
	}
	args := []string{"-c", `import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
for f in sys.argv[2:]:
    jsonschema.validate(json.load(open(f)), schema)`, filepath.Join("testdata", "tlsrpt.schema.json")}
	dir := t.TempDir()
	for i, data := range reports {
		file := filepath.Join(dir, fmt.Sprintf("report%d.json", i))
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, file)
	}
	out, err := exec.Command("python3", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("a report does not validate: %v\n%s\n%s", err, out, bytes.Join(reports, []byte("\n")))
	}
}

// TestDailyReport: a day with successes and failures under an MTA-STS
// policy and a TLSA one gives one report per domain in the RFC 8460
// format, valid against its schema, and the report mail carries it
// gzipped.
func TestDailyReport(t *testing.T) {
	day := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := tlsrpt.NewRecorder(func() time.Time { return day })
	sts := tlsrpt.Session{Domain: "Example.org", PolicyType: tlsrpt.PolicySTS, PolicyStrings: []string{"version: STSv1", "mode: enforce", "mx: *.example.org", "max_age: 86400"},
		MXPatterns: []string{"*.example.org"}, MXHost: "mx1.example.org", ReceivingIP: "192.0.2.1"}
	for range 3 {
		r.Add(sts)
	}
	bad := sts
	bad.Result = "certificate-expired"
	r.Add(bad)
	r.Add(bad)
	r.Add(tlsrpt.Session{Domain: "dane.test", PolicyType: tlsrpt.PolicyTLSA, PolicyStrings: []string{"3 1 1 00"}, MXHost: "mx.dane.test", Result: "validation-failure"})
	r.Add(tlsrpt.Session{Domain: "plain.test", PolicyType: tlsrpt.PolicyNotFound, MXHost: "mx.plain.test"})

	reps := r.Take(day, "pochta mx.sender.test", "postmaster@sender.test")
	if len(reps) != 3 {
		t.Fatalf("%d reports", len(reps))
	}
	rep := reps["example.org"]
	if len(rep.Policies) != 1 || rep.Policies[0].Summary != (tlsrpt.Summary{Success: 3, Failure: 2}) ||
		len(rep.Policies[0].FailureDetails) != 1 || rep.Policies[0].FailureDetails[0].Count != 2 ||
		rep.DateRange != (tlsrpt.DateRange{Start: "2026-12-01T00:00:00Z", End: "2026-12-01T23:59:59Z"}) {
		t.Fatalf("report %+v", rep)
	}
	var all [][]byte
	for _, rp := range reps {
		data, err := json.Marshal(rp)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, data)
	}
	validate(t, all)
	if again := r.Take(day, "x", "y"); len(again) != 0 {
		t.Fatal("a day reported twice")
	}

	msg, err := tlsrpt.Message(rep, "example.org", "mx.sender.test", "postmaster@sender.test", "tls@example.org", day)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("TLS-Report-Domain") != "example.org" || m.Header.Get("TLS-Report-Submitter") != "mx.sender.test" ||
		!strings.HasPrefix(m.Header.Get("Subject"), "Report Domain: example.org Submitter: mx.sender.test Report-ID: <") {
		t.Fatalf("header %v", m.Header)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("%s %v %v", mt, params, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var got []byte
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.Header.Get("Content-Type") == "application/tlsrpt+gzip" {
			zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, p))
			if err != nil {
				t.Fatal(err)
			}
			got, _ = io.ReadAll(zr)
		}
	}
	want, _ := json.Marshal(rep)
	if !bytes.Equal(got, want) {
		t.Fatalf("attachment %s", got)
	}
}

func TestParseRecord(t *testing.T) {
	rua, err := tlsrpt.ParseRecord("v=TLSRPTv1; rua=mailto:tls@example.org,https://r.example.org/v1")
	if err != nil || len(rua) != 2 || rua[0] != "mailto:tls@example.org" {
		t.Fatalf("%v %v", rua, err)
	}
	for _, bad := range []string{"v=TLSRPTv2; rua=mailto:a@b", "v=TLSRPTv1;", "v=TLSRPTv1; rua=ftp://x"} {
		if _, err := tlsrpt.ParseRecord(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseRecord: the `_smtp._tls` TXT parser never panics and returns
// only mailto: and https: URIs.
func FuzzParseRecord(f *testing.F) {
	f.Add("v=TLSRPTv1; rua=mailto:a@example.org,https://r.example/")
	f.Add("v=TLSRPTv1;rua=,;rua=mailto:")
	f.Fuzz(func(t *testing.T, s string) {
		rua, err := tlsrpt.ParseRecord(s)
		for _, u := range rua {
			if err != nil || !(strings.HasPrefix(u, "mailto:") || strings.HasPrefix(u, "https:")) {
				t.Fatalf("%q from %q (%v)", u, s, err)
			}
		}
	})
}

// TestDrainMerge: the counts two nodes drain add up in a third recorder
// (what a report from the store sees), per day, policy and failure.
func TestDrainMerge(t *testing.T) {
	day := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return day }
	a, b, sum := tlsrpt.NewRecorder(clock), tlsrpt.NewRecorder(clock), tlsrpt.NewRecorder(clock)
	ok := tlsrpt.Session{Domain: "example.org", PolicyType: tlsrpt.PolicySTS, MXHost: "mx1.example.org"}
	bad := ok
	bad.Result = "certificate-expired"
	a.Add(ok)
	a.Add(bad)
	b.Add(ok)
	b.Add(bad)
	b.Add(bad)
	b.Add(tlsrpt.Session{Domain: "plain.test", PolicyType: tlsrpt.PolicyNotFound})
	for _, r := range []*tlsrpt.Recorder{a, b} {
		drained := r.Drain()
		if len(drained) != 1 || drained["2026-12-01"] == nil {
			t.Fatalf("drained %q", drained)
		}
		if err := sum.Merge("2026-12-01", drained["2026-12-01"]); err != nil {
			t.Fatal(err)
		}
		if len(r.Drain()) != 0 || len(r.Take(day, "x", "y")) != 0 {
			t.Fatal("counts left after Drain")
		}
	}
	reps := sum.Take(day, "x", "y")
	p := reps["example.org"].Policies
	if len(reps) != 2 || len(p) != 1 || p[0].Summary != (tlsrpt.Summary{Success: 2, Failure: 3}) ||
		len(p[0].FailureDetails) != 1 || p[0].FailureDetails[0].Count != 3 {
		t.Fatalf("merged reports %+v", reps)
	}
	if err := sum.Merge("not a day", []byte("{}")); err == nil {
		t.Fatal("Merge accepted a bad day")
	}
}
