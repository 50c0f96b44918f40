package mtasts_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pochta/internal/dns"
	"pochta/internal/dnstest"
	"pochta/internal/mtasts"
	"pochta/internal/store/sqlite"
	"pochta/internal/tlscert"
)

// TestParseGolden: testdata/parse.txt holds cases separated by "=== ",
// each a policy body ("\n" line ends), "---", and the expected result
// (the policy re-serialised, or "error").
func TestParseGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "parse.txt"))
	if err != nil {
		t.Fatal(err)
	}
	cases := strings.Split(string(data), "=== ")[1:]
	if len(cases) < 5 {
		t.Fatal("too few cases")
	}
	for _, c := range cases {
		name, rest, _ := strings.Cut(c, "\n")
		in, want, ok := strings.Cut(rest, "---\n")
		if !ok {
			t.Fatalf("%s: no ---", name)
		}
		got := "error\n"
		if p, err := mtasts.Parse(in); err == nil {
			got = strings.ReplaceAll(p.String(), "\r\n", "\n")
		}
		if got != want {
			t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
		}
	}
}

func TestMatches(t *testing.T) {
	p := mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mail.example.org", "*.mx.example.org"}}
	for host, want := range map[string]bool{
		"mail.example.org":      true,
		"MAIL.example.org.":     true,
		"a.mx.example.org":      true,
		"mx.example.org":        false,
		"a.b.mx.example.org":    false, // the wildcard is one label (RFC 8461 §4.1)
		"mail.example.org.evil": false,
	} {
		if p.Matches(host) != want {
			t.Errorf("%s: want %v", host, want)
		}
	}
}

func TestRecord(t *testing.T) {
	p := mtasts.Published(mtasts.ModeTesting, "Mail.example.org.")
	id, err := mtasts.ParseRecord(p.Record())
	if err != nil || id != p.ID() || len(id) != 32 {
		t.Fatalf("%q %v", id, err)
	}
	recs := p.Records("example.org", "mail.example.org")
	for _, want := range []string{"_mta-sts.example.org. IN TXT \"v=STSv1; id=" + id + "\"\n", "mta-sts.example.org. IN CNAME mail.example.org.\n", ";   mode: testing\n", ";   max_age: 604800\n"} {
		if !strings.Contains(recs, want) {
			t.Errorf("records lack %q:\n%s", want, recs)
		}
	}
	for _, bad := range []string{"v=STSv2; id=1", "v=STSv1;", "v=STSv1; id=a-b", "v=STSv1; id=" + strings.Repeat("a", 33)} {
		if _, err := mtasts.ParseRecord(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestFinderCache: a policy is fetched once per id, refetched when the
// TXT id changes, and kept when a refetch fails or the record vanishes.
func TestFinderCache(t *testing.T) {
	cfg, err := tlscert.Load("", "", "mta-sts.example.org", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	var fetches atomic.Int32
	var body atomic.Value
	body.Store("version: STSv1\nmode: testing\nmx: a.example.org\nmax_age: 3600\n")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(body.Load().(string)))
	}))
	srv.TLS = &tls.Config{Certificates: cfg.Certificates}
	srv.StartTLS()
	defer srv.Close()
	d := dnstest.Start(t, dnstest.Zone{
		"_mta-sts.example.org": {TXT: []string{"v=STSv1; id=one"}},
		"mta-sts.example.org":  {A: []string{"127.0.0.1"}},
	})
	now := time.Now()
	opts := mtasts.Options{
		Resolver:  dns.New([]string{d.Addr()}, 2*time.Second),
		RootCAs:   roots,
		Port:      srv.Listener.Addr().(*net.TCPAddr).Port,
		Now:       func() time.Time { return now },
		CacheFile: filepath.Join(t.TempDir(), "mtasts", "policies.json"),
	}
	f := mtasts.NewFinder(opts)
	ctx := context.Background()
	mode := func() string {
		if p := f.Find(ctx, "example.org"); p != nil {
			return p.Mode
		}
		return "none found"
	}
	if m := mode(); m != "testing" || mode() != "testing" || fetches.Load() != 1 {
		t.Fatalf("mode %s, %d fetches", m, fetches.Load())
	}
	// A node keeping its cache in the store: a node started later on the
	// same store has the policy without fetching it.
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stateOpts := opts
	stateOpts.CacheFile, stateOpts.State = "", st
	if p := mtasts.NewFinder(stateOpts).Find(ctx, "example.org"); p == nil || p.Mode != "testing" || fetches.Load() != 2 {
		t.Fatalf("node with the store's cache: %+v, %d fetches", p, fetches.Load())
	}
	fetches.Store(1)
	// New id: refetched.
	body.Store("version: STSv1\nmode: enforce\nmx: a.example.org\nmax_age: 3600\n")
	d.Set("_mta-sts.example.org", dnstest.Records{TXT: []string{"v=STSv1; id=two"}})
	if m := mode(); m != "enforce" || fetches.Load() != 2 {
		t.Fatalf("mode %s, %d fetches", m, fetches.Load())
	}
	// New id but the policy no longer parses: the cached one stays.
	body.Store("garbage")
	d.Set("_mta-sts.example.org", dnstest.Records{TXT: []string{"v=STSv1; id=three"}})
	if m := mode(); m != "enforce" {
		t.Fatalf("mode %s", m)
	}
	// The failed fetch is not repeated at once for the same id, only
	// after a while.
	n := fetches.Load()
	if m := mode(); m != "enforce" || fetches.Load() != n {
		t.Fatalf("mode %s, refetched at once (%d → %d)", m, n, fetches.Load())
	}
	now = now.Add(6 * time.Minute)
	if m := mode(); m != "enforce" || fetches.Load() != n+1 {
		t.Fatalf("mode %s, %d → %d fetches", m, n, fetches.Load())
	}
	// The record is gone: the unexpired cache still applies (§5.1) …
	d.Delete("_mta-sts.example.org")
	if m := mode(); m != "enforce" {
		t.Fatalf("mode %s", m)
	}
	// A restart remembers it (the cache file), as `pochta tls status` reads it.
	if p := mtasts.NewFinder(opts).Find(ctx, "example.org"); p == nil || p.Mode != "enforce" {
		t.Fatalf("after restart: %+v", p)
	}
	if e, err := mtasts.ReadCache(opts.CacheFile); err != nil || len(e) != 1 || e[0].Domain != "example.org" || e[0].ID != "two" {
		t.Fatalf("cache file: %+v %v", e, err)
	}
	// The node on the store restarts: the policy it fetched (id one) is
	// still known, though the record is gone.
	if p := mtasts.NewFinder(stateOpts).Find(ctx, "example.org"); p == nil || p.Mode != "testing" {
		t.Fatalf("after restart with the store's cache: %+v", p)
	}
	if data, err := st.GetState(ctx, mtasts.StateName); err != nil {
		t.Fatal(err)
	} else if e, err := mtasts.ParseCache(data, mtasts.StateName); err != nil || len(e) != 1 || e[0].ID != "one" {
		t.Fatalf("store's cache: %+v %v", e, err)
	}
	// … until max_age has passed.
	now = now.Add(2 * time.Hour)
	if m := mode(); m != "none found" {
		t.Fatalf("mode %s", m)
	}
	// An untrusted certificate: no policy.
	d.Set("_mta-sts.example.org", dnstest.Records{TXT: []string{"v=STSv1; id=four"}})
	body.Store("version: STSv1\nmode: enforce\nmx: a.example.org\nmax_age: 3600\n")
	f2 := mtasts.NewFinder(mtasts.Options{Resolver: dns.New([]string{d.Addr()}, 2*time.Second), Port: srv.Listener.Addr().(*net.TCPAddr).Port})
	if p := f2.Find(ctx, "example.org"); p != nil {
		t.Fatalf("policy from an untrusted server: %+v", p)
	}
}

// FuzzParse: Parse never panics, and what it accepts survives a round
// trip through String.
func FuzzParse(f *testing.F) {
	f.Add("version: STSv1\r\nmode: enforce\r\nmx: *.example.org\r\nmax_age: 86400\r\n")
	f.Add("version: STSv1\nmode: none\nmax_age: 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := mtasts.Parse(s)
		if err != nil {
			return
		}
		q, err := mtasts.Parse(p.String())
		if err != nil || q.String() != p.String() {
			t.Fatalf("round trip: %v %q %q", err, p.String(), q.String())
		}
	})
}

// FuzzParseRecord: the `_mta-sts` TXT parser never panics and returns an
// id only of the allowed form.
func FuzzParseRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z")
	f.Add("v=STSv1;id=;id=x")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := mtasts.ParseRecord(s)
		if err == nil && (id == "" || len(id) > 32) {
			t.Fatalf("id %q from %q", id, s)
		}
	})
}
