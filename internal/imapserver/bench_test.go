package imapserver

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/scram"
	"pochta/internal/store"
	"pochta/internal/store/sqlite"
)

const benchMessages = 100000

// benchEnv opens (building once, then reusing across runs) a store whose
// INBOX holds 100,000 messages: 1,000 distinct deliveries copied 100 times
// (copies share content blobs, so the fixture builds in seconds).
func benchEnv(b *testing.B) (*testEnv, func()) {
	b.Helper()
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), "pochta-imapserver-bench-100k-v1")
	marker := filepath.Join(dir, "complete")
	if _, err := os.Stat(marker); err != nil {
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		st, err := sqlite.Open(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		st.AddDomain(ctx, "example.org")
		hash, _ := auth.Hash(testPassword)
		acct, err := st.AddAccount(ctx, "alice@example.org", hash)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < 1000; i += 32 {
					_, err := st.Deliver(ctx, strings.NewReader(testMessage(i, fmt.Sprintf("bench subject %04d", i))),
						[]store.Target{{AccountID: acct.ID, Mailbox: "Seed"}})
					if err != nil {
						errs <- err
						return
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		seed, _ := st.GetMailbox(ctx, acct.ID, "Seed")
		inbox, _ := st.GetMailbox(ctx, acct.ID, "INBOX")
		for i := 0; i < benchMessages/1000; i++ {
			if _, err := st.Copy(ctx, seed.ID, nil, inbox.ID); err != nil {
				b.Fatal(err)
			}
		}
		st.Close()
		os.WriteFile(marker, nil, 0o600)
	}
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	acct, err := st.GetAccount(ctx, "alice@example.org")
	if err != nil {
		b.Fatal(err)
	}
	lim := config.Default().Limits
	lim.MaxConnections, lim.MaxConnectionsPerIP = 5000, 5000
	srv := New(Options{Store: st, Auth: auth.New(st, auth.Options{PlaintextOnLoopback: true}), Limits: lim})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	e := &testEnv{t: b, st: st, srv: srv, addr: l.Addr().String(), acct: acct}
	return e, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		st.Close()
	}
}

func BenchmarkSelect100k(b *testing.B) {
	e, done := benchEnv(b)
	defer done()
	c := e.login()
	lines := c.ok("SELECT INBOX")
	mustHave(b, lines, fmt.Sprintf("* %d EXISTS", benchMessages))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.ok("SELECT INBOX")
	}
}

func BenchmarkFetchFlags100k(b *testing.B) {
	e, done := benchEnv(b)
	defer done()
	c := e.login()
	c.ok("SELECT INBOX")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lines := c.ok("UID FETCH 1:* (UID FLAGS)")
		if len(lines) != benchMessages {
			b.Fatalf("%d lines", len(lines))
		}
	}
}

func BenchmarkSearchSubject100k(b *testing.B) {
	e, done := benchEnv(b)
	defer done()
	c := e.login()
	c.ok("SELECT INBOX")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lines := c.ok(`UID SEARCH SUBJECT "bench subject 0042"`)
		if len(lines) != 1 || len(strings.Fields(lines[0])) != 2+benchMessages/1000 {
			b.Fatalf("%.200q", lines)
		}
	}
}

// BenchmarkSearchBody100k: a body text key, 100 hits in 100,000 (each
// copy of delivery 42).
func BenchmarkSearchBody100k(b *testing.B) {
	e, done := benchEnv(b)
	defer done()
	c := e.login()
	c.ok("SELECT INBOX")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lines := c.ok(`UID SEARCH BODY "message 42."`)
		if len(lines) != 1 || len(strings.Fields(lines[0])) != 2+benchMessages/1000 {
			b.Fatalf("%.200q", lines)
		}
	}
}

// fastAuth checks the password of one known account without argon2, so
// that 1,000 logins do not dominate a memory benchmark; all other
// benchmarks and tests use the real auth.Authenticator.
type fastAuth struct{ acct store.Account }

func (a fastAuth) Login(ctx context.Context, user, pass string, remote netip.Addr) (store.Account, error) {
	if user == a.acct.Address && pass == testPassword {
		return a.acct, nil
	}
	return store.Account{}, auth.ErrInvalid
}

func (a fastAuth) PlaintextAllowed(remote net.Addr, tlsActive bool) bool { return true }

func (a fastAuth) SASLMechanisms(scram.Bindings) []string { return nil }

func (a fastAuth) StartSASL(string, scram.Bindings, netip.Addr) (*auth.Exchange, error) {
	return nil, auth.ErrMechanism
}

// BenchmarkIdleMemory holds 1,000 connections in IDLE over loopback and
// reports the heap and goroutine-stack bytes each one costs.
func BenchmarkIdleMemory(b *testing.B) {
	conns := benchConns()
	for i := 0; i < b.N; i++ {
		e := newEnv(b, envOptions{})
		e.srv.opts.Auth = fastAuth{e.acct}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		var clients []net.Conn
		start := time.Now()
		for j := 0; j < conns; j++ {
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				b.Fatal(err)
			}
			clients = append(clients, c)
			r := bufio.NewReader(c)
			r.ReadString('\n')
			fmt.Fprintf(c, "a LOGIN alice@example.org \"%s\"\r\nb SELECT INBOX\r\nc IDLE\r\n", testPassword)
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					b.Fatal(err)
				}
				if strings.HasPrefix(l, "+ ") {
					break
				}
			}
		}
		// Three collections: each halves the stacks that use less than a
		// quarter of their size, as a long-idle server's periodic GC does.
		for range 3 {
			runtime.GC()
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		used := (after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse)
		b.Logf("%d conns in %v: heap %d, stacks %d bytes/conn, %d goroutines", conns, time.Since(start),
			int64(after.HeapInuse-before.HeapInuse)/int64(conns), int64(after.StackInuse-before.StackInuse)/int64(conns),
			runtime.NumGoroutine())
		if path := os.Getenv("IMAP_BENCH_HEAPPROFILE"); path != "" {
			writeHeapProfile(b, path)
		}
		perConn := float64(used) / float64(conns)
		b.ReportMetric(perConn, "bytes/conn")
		if perConn > 256<<10 {
			b.Fatalf("%.0f bytes per idle connection", perConn)
		}
		for _, c := range clients {
			c.Close()
		}
	}
}

// writeHeapProfile writes the live heap to path (go tool pprof
// -sample_index=inuse_space), to see what idle connections hold.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

func benchConns() int {
	if n, err := strconv.Atoi(os.Getenv("IMAP_BENCH_CONNS")); err == nil && n > 0 {
		return n
	}
	return 1000
}

// BenchmarkFetchBody measures one "UID FETCH n BODY.PEEK[]" round trip
// for a random message of a 4,000-message INBOX over loopback.
func BenchmarkFetchBody(b *testing.B) {
	const seed, copies = 100, 40
	e := newEnv(b, envOptions{})
	ctx := context.Background()
	for i := 0; i < seed; i++ {
		e.deliver("Seed", testMessage(i, fmt.Sprintf("fetch body %03d", i)))
	}
	src, err := e.st.GetMailbox(ctx, e.acct.ID, "Seed")
	if err != nil {
		b.Fatal(err)
	}
	inbox, err := e.st.GetMailbox(ctx, e.acct.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < copies; i++ {
		if _, err := e.st.Copy(ctx, src.ID, nil, inbox.ID); err != nil {
			b.Fatal(err)
		}
	}
	c := e.login()
	mustHave(b, c.ok("SELECT INBOX"), fmt.Sprintf("* %d EXISTS", seed*copies))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		uid := 1 + (i*7919)%(seed*copies)
		lines := c.ok("UID FETCH " + strconv.Itoa(uid) + " BODY.PEEK[]")
		if len(lines) != 1 || !strings.Contains(lines[0], "Body of message") {
			b.Fatalf("%q", lines)
		}
	}
}
