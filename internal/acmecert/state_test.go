package acmecert_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"pochta/internal/acmecert"
	"pochta/internal/acmecert/pebbletest"
	"pochta/internal/dnstest"
	"pochta/internal/pgtest"
	"pochta/internal/store"
	"pochta/internal/store/postgres"
	"pochta/internal/tlscert"
)

// TestSharedState: two nodes keep their ACME files in one PostgreSQL
// database and have no folder of their own. Node A obtains the
// certificate while the CA's HTTP-01 validation reaches node B (which
// answers from the database); node B then serves A's certificate at its
// next renewal check, without asking the CA itself, and a node started
// later serves it at once.
func TestSharedState(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	defer pg.Stop()
	url := pg.NewDatabase(t)
	stA, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer stA.Close()
	stB, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer stB.Close()

	names := []string{"mail.example.test"}
	d := dnstest.Start(t, dnstest.Zone{"mail.example.test": {A: []string{"127.0.0.1"}}})
	httpL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := pebbletest.Start(t, httpL.Addr().(*net.TCPAddr).Port, pebbletest.FreePort(t), d.Addr())
	newManager := func(st *postgres.Store, directory string) *acmecert.Manager {
		m, err := acmecert.New(acmecert.Options{
			Directory: directory, RootCAs: p.Roots, RenewBefore: 720 * time.Hour, State: st,
			CheckInterval: 100 * time.Millisecond, Names: func(context.Context) []string { return names },
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// Node B's CA directory is unreachable: it can only get a
	// certificate from A.
	a := newManager(stA, p.Directory)
	b := newManager(stB, "https://127.0.0.1:1/dir")
	if a.Current() != nil || b.Current() != nil {
		t.Fatal("a certificate before any was obtained")
	}
	httpSrv := &http.Server{Handler: b.HTTPHandler()} // the CA reaches node B
	go httpSrv.Serve(httpL)
	defer httpSrv.Close()

	// Node B runs its renewal loop (failing, and retrying).
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); b.Run(runCtx) }()

	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	want := a.Current().Leaf
	for i := 0; b.Current() == nil || !bytes.Equal(b.Current().Leaf.Raw, want.Raw); i++ {
		if i == 100 {
			t.Fatal("node B does not serve node A's certificate after 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
	// B served it on a TLS listener.
	base, err := tlscert.Load("", "", "mail.example.test", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := b.TLSConfig(base)
	sc, cc := net.Pipe()
	go func() { tls.Server(sc, cfg).Handshake(); sc.Close() }()
	tc := tls.Client(cc, &tls.Config{RootCAs: nil, InsecureSkipVerify: true, ServerName: "mail.example.test"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if got := tc.ConnectionState().PeerCertificates[0]; !bytes.Equal(got.Raw, want.Raw) {
		t.Fatal("node B's TLS listener does not serve node A's certificate")
	}
	tc.Close()
	// A renewal by another node on B's store keeps the shared account
	// and certificate key.
	b2 := newManager(stB, p.Directory)
	if err := b2.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b2.Current().Leaf.RawSubjectPublicKeyInfo, want.RawSubjectPublicKeyInfo) {
		t.Fatal("node B renewed with another key than node A's")
	}
	// A node started later serves the newest certificate at once.
	c := newManager(stA, p.Directory)
	if !bytes.Equal(c.Current().Leaf.Raw, b2.Current().Leaf.Raw) {
		t.Fatal("a new node does not start with the newest certificate")
	}

	// A new name makes renewal due; while another node claims the
	// renewal, C does not order; once the claim is gone, it does.
	d.Set("mta-sts.example.test", dnstest.Records{A: []string{"127.0.0.1"}})
	names = append(names, "mta-sts.example.test")
	if err := stA.PutState(ctx, "acme/renewing", []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel = context.WithCancel(ctx)
	defer cancel()
	done = make(chan struct{})
	go func() { defer close(done); c.Run(runCtx) }()
	time.Sleep(time.Second) // ten checks
	if c.Current().Leaf.VerifyHostname("mta-sts.example.test") == nil {
		t.Fatal("node C renewed while another node held the claim")
	}
	if err := stA.DeleteState(ctx, "acme/renewing"); err != nil {
		t.Fatal(err)
	}
	for i := 0; c.Current().Leaf.VerifyHostname("mta-sts.example.test") != nil; i++ {
		if i == 200 {
			t.Fatal("node C did not renew within 20s after the claim was released")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
	if _, err := stA.GetState(ctx, "acme/renewing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("claim left after the renewal: %v", err)
	}
}
