package acmecert_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pochta/internal/acmecert"
	"pochta/internal/acmecert/pebbletest"
	"pochta/internal/dnstest"
	"pochta/internal/tlscert"
)

// served is the leaf certificate served on addr.
func served(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// TestACMEWithPebble: a certificate is obtained with HTTP-01 and with
// TLS-ALPN-01, served on the TLS listener, renewed with the same key,
// and, with the CA gone, the old one keeps serving.
func TestACMEWithPebble(t *testing.T) {
	names := []string{"mail.example.test", "mta-sts.example.test"}
	d := dnstest.Start(t, dnstest.Zone{
		"mail.example.test":    {A: []string{"127.0.0.1"}},
		"mta-sts.example.test": {A: []string{"127.0.0.1"}},
	})
	httpL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := pebbletest.Start(t, httpL.Addr().(*net.TCPAddr).Port, tlsL.Addr().(*net.TCPAddr).Port, d.Addr())

	dataDir := t.TempDir()
	newManager := func(noHTTP bool, renewBefore time.Duration) *acmecert.Manager {
		m, err := acmecert.New(acmecert.Options{
			Directory: p.Directory, Email: "postmaster@example.test", RootCAs: p.Roots,
			RenewBefore: renewBefore, Dir: filepath.Join(dataDir, "acme"), NoHTTP01: noHTTP, CheckInterval: 500 * time.Millisecond,
			Names:  func(context.Context) []string { return names },
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := newManager(false, 720*time.Hour)
	// Before any ACME certificate: the fallback (self-signed) serves.
	base, err := tlscert.Load("", "", "mail.example.test", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	var current atomic.Pointer[acmecert.Manager] // the manager the listeners use
	current.Store(m)
	httpSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { current.Load().HTTPHandler().ServeHTTP(w, r) })}
	go httpSrv.Serve(httpL)
	t.Cleanup(func() { httpSrv.Close() })
	tlsCfg := func() *tls.Config { return current.Load().TLSConfig(base) }
	go func() {
		for {
			c, err := tlsL.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, tlsCfg())
				tc.SetDeadline(time.Now().Add(5 * time.Second))
				if tc.Handshake() == nil {
					tc.Write([]byte("* OK\r\n"))
				}
			}()
		}
	}()
	t.Cleanup(func() { tlsL.Close() })
	addr := tlsL.Addr().String()
	if got := served(t, addr); !bytes.Equal(got.Raw, base.Certificates[0].Certificate[0]) {
		t.Fatal("fallback certificate not served")
	}

	ctx := context.Background()
	// HTTP-01.
	if err := m.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	first := m.Current().Leaf
	if got := served(t, addr); !bytes.Equal(got.Raw, first.Raw) || got.VerifyHostname("mta-sts.example.test") != nil {
		t.Fatalf("served %v, want the ACME certificate", got.Subject)
	}
	// TLS-ALPN-01 (a second manager on the same folder keeps the keys).
	m2 := newManager(true, 720*time.Hour)
	if !bytes.Equal(m2.Current().Leaf.Raw, first.Raw) {
		t.Fatal("certificate not reloaded from the folder")
	}
	current.Store(m2)
	if err := m2.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	second := m2.Current().Leaf
	if bytes.Equal(second.Raw, first.Raw) || !bytes.Equal(second.RawSubjectPublicKeyInfo, first.RawSubjectPublicKeyInfo) {
		t.Fatal("renewal did not give a new certificate for the same key")
	}
	if got := served(t, addr); !bytes.Equal(got.Raw, second.Raw) {
		t.Fatal("renewed certificate not served")
	}
	// Run renews by itself when acme_renew_before exceeds the lifetime.
	m3 := newManager(false, 100*365*24*time.Hour)
	current.Store(m3)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); m3.Run(runCtx) }()
	for i := 0; bytes.Equal(m3.Current().Leaf.Raw, second.Raw); i++ {
		if i == 300 {
			t.Fatal("no renewal within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
	second = m3.Current().Leaf
	// The CA goes away: renewal fails, the old certificate stays.
	p.Stop()
	if err := m3.Renew(ctx); err == nil {
		t.Fatal("renewal without a CA succeeded")
	}
	if got := served(t, addr); !bytes.Equal(got.Raw, second.Raw) {
		t.Fatal("certificate lost after a failed renewal")
	}
}

// TestACMENameElsewhere: a name whose DNS points elsewhere (127.0.0.2,
// where nothing answers HTTP-01) fails validation and is left out of the
// certificate without holding up the others; it is not asked for again
// until FailedNameRetry has passed, then it is, and gets in once its DNS
// points here. A name added while Run runs (a new domain) gets into the
// certificate without a new Manager. The hostname failing fails all.
func TestACMENameElsewhere(t *testing.T) {
	d := dnstest.Start(t, dnstest.Zone{
		"mail.example.test":       {A: []string{"127.0.0.1"}},
		"mta-sts.example.test":    {A: []string{"127.0.0.1"}},
		"autoconfig.example.test": {A: []string{"127.0.0.2"}},
		"mta-sts.new.test":        {A: []string{"127.0.0.1"}},
		"gone.example.test":       {A: []string{"127.0.0.2"}},
	})
	httpL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := pebbletest.Start(t, httpL.Addr().(*net.TCPAddr).Port, pebbletest.FreePort(t), d.Addr())
	var mu sync.Mutex
	names := []string{"mail.example.test", "mta-sts.example.test", "autoconfig.example.test"}
	now := time.Now()
	m, err := acmecert.New(acmecert.Options{
		Directory: p.Directory, RootCAs: p.Roots, RenewBefore: time.Hour, Dir: t.TempDir(),
		CheckInterval: 200 * time.Millisecond, FailedNameRetry: time.Hour,
		Names:  func(context.Context) []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(names) },
		Now:    func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		t.Fatal(err)
	}
	httpSrv := &http.Server{Handler: m.HTTPHandler()}
	go httpSrv.Serve(httpL)
	t.Cleanup(func() { httpSrv.Close() })
	covers := func(want, not []string) {
		t.Helper()
		leaf := m.Current().Leaf
		for _, n := range want {
			if leaf.VerifyHostname(n) != nil {
				t.Fatalf("certificate lacks %s: %v", n, leaf.DNSNames)
			}
		}
		for _, n := range not {
			if leaf.VerifyHostname(n) == nil {
				t.Fatalf("certificate has %s: %v", n, leaf.DNSNames)
			}
		}
	}
	ctx := context.Background()
	if err := m.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	covers([]string{"mail.example.test", "mta-sts.example.test"}, []string{"autoconfig.example.test"})
	if m.Due() {
		t.Fatal("renewal due for the name that failed, within FailedNameRetry")
	}

	// A new domain's name, while Run runs: it gets into the certificate.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); m.Run(runCtx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	defer stop()
	mu.Lock()
	names = append(names, "mta-sts.new.test")
	mu.Unlock()
	waitFor := func(name string) {
		t.Helper()
		for i := 0; m.Current().Leaf.VerifyHostname(name) != nil; i++ {
			if i == 300 {
				t.Fatalf("%s not in the certificate within 30s: %v", name, m.Current().Leaf.DNSNames)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("mta-sts.new.test")
	covers([]string{"mail.example.test", "mta-sts.example.test"}, []string{"autoconfig.example.test"})

	// Its DNS now points here, and FailedNameRetry passes: it gets in.
	d.Set("autoconfig.example.test", dnstest.Records{A: []string{"127.0.0.1"}})
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	waitFor("autoconfig.example.test")
	covers([]string{"mail.example.test", "mta-sts.example.test", "mta-sts.new.test"}, nil)
	stop()

	// The first name (the hostname) failing fails the renewal.
	before := m.Current().Leaf
	mu.Lock()
	names = []string{"gone.example.test", "mail.example.test"}
	mu.Unlock()
	if err := m.Renew(ctx); err == nil || !strings.Contains(err.Error(), "gone.example.test") {
		t.Fatalf("renewal without the hostname: %v", err)
	}
	if !bytes.Equal(m.Current().Leaf.Raw, before.Raw) {
		t.Fatal("certificate replaced by a failed renewal")
	}
}
