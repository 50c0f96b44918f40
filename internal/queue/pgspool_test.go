package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"pochta/internal/config"
	"pochta/internal/envelope"
	"pochta/internal/pgtest"
	"pochta/internal/reply"
	"pochta/internal/smtpclient"
)

// manager manages e's spool, whichever it is.
func (e *env) manager() Manager {
	e.t.Helper()
	if e.pgURL == "" {
		return FileManager(e.dir)
	}
	m, err := OpenPostgresManager(context.Background(), e.pgURL)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(m.Close)
	return m
}

func (e *env) show(id string) (Item, []byte, error) {
	return e.manager().Show(context.Background(), id)
}

// TestPostgres runs the queue on the PostgreSQL spool: one real server for
// all subtests, a fresh database for each.
func TestPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	newPGEnv := func(t *testing.T) *env {
		e := newEnv(t)
		e.pgURL = srv.NewDatabase(t)
		return e
	}
	// The single-node behaviours, as on the file spool.
	for name, f := range map[string]func(*testing.T, func(*testing.T) *env){
		"LocalDelivery":               testLocalDelivery,
		"RetryThenDelivered":          testRetryThenDelivered,
		"BounceOnPermanentFailure":    testBounceOnPermanentFailure,
		"BounceToRemoteSender":        testBounceToRemoteSender,
		"LocalFailureBounces":         testLocalFailureBounces,
		"Expiry":                      testExpiry,
		"DelayWarning":                testDelayWarning,
		"NoBounceToNullSenderOrNever": testNoBounceToNullSenderOrNever,
		"NotifySuccess":               testNotifySuccess,
		"RequireTLSBounce":            testRequireTLSBounce,
	} {
		t.Run(name, func(t *testing.T) { f(t, newPGEnv) })
	}
	t.Run("TwoNodesDeliverOnce", func(t *testing.T) { testTwoNodesDeliverOnce(t, newPGEnv(t)) })
	t.Run("DeadNodeLeaseTakenOver", func(t *testing.T) { testDeadNodeLeaseTakenOver(t, newPGEnv(t)) })
	t.Run("Management", func(t *testing.T) { testPGManagement(t, newPGEnv(t)) })
	t.Run("DurableAcrossReopen", func(t *testing.T) { testPGDurableAcrossReopen(t, newPGEnv(t)) })
}

// sink is a loopback SMTP server that records the Subject of every
// message it accepts.
type sink struct {
	mu   sync.Mutex
	subj map[string]int
}

func (s *sink) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{s: s}, nil }

func (s *sink) count(subject string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subj[subject]
}

func (s *sink) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.subj {
		n += c
	}
	return n
}

type sinkSession struct{ s *sink }

func (*sinkSession) Reset()                                 {}
func (*sinkSession) Logout() error                          { return nil }
func (*sinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (*sinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, rest, _ := strings.Cut(string(b), "Subject: ")
	subject, _, _ := strings.Cut(rest, "\r\n")
	ss.s.mu.Lock()
	ss.s.subj[subject]++
	ss.s.mu.Unlock()
	return nil
}

// startSink starts a sink and returns an SMTP client that sends all mail
// to it.
func startSink(t *testing.T) (*sink, *smtpclient.Client) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sk := &sink{subj: map[string]int{}}
	srv := gosmtp.NewServer(sk)
	srv.Domain = "mx.remote.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }() //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close(); <-done })
	client := smtpclient.New(smtpclient.Options{
		Hostname:  "mx.local.test",
		Smarthost: &config.Smarthost{Address: l.Addr().String(), TLS: "none"},
	})
	return sk, client
}

// testTwoNodesDeliverOnce: messages queued while no node runs are claimed
// by two nodes at once and each reaches the remote server exactly once.
func testTwoNodesDeliverOnce(t *testing.T, e *env) {
	sk, client := startSink(t)
	const n = 40
	opts := e.options()
	opts.Remote = client
	opts.Workers = 4
	loader, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := loader.Enqueue(context.Background(), envFrom("alice@local.test", "x@remote.test"), testMsg(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Never started: Shutdown releases every entry for others to claim.
	if err := loader.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.open(opts)
	e.open(opts)
	e.waitEmpty()
	for i := range n {
		if c := sk.count(fmt.Sprintf("m%d", i)); c != 1 {
			t.Errorf("m%d delivered %d times", i, c)
		}
	}
	if sk.total() != n {
		t.Errorf("%d deliveries, want %d", sk.total(), n)
	}
}

// blockingRemote answers nothing until released, then with err.
type blockingRemote struct {
	called  chan struct{}
	release chan struct{}
	err     error
}

func (r *blockingRemote) Deliver(_ context.Context, _ string, _ envelope.Envelope, rcpts []envelope.Recipient, _ []byte) []error {
	close(r.called)
	<-r.release
	return all(rcpts, r.err)
}

// crash stops q as a SIGKILL would: no more claims, no lease extension,
// nothing released; an attempt already running goes on.
func crash(q *Queue) {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	close(q.stop)
	<-q.loopDone
	q.pg.cancel()
	q.pg.wg.Wait()
}

// testDeadNodeLeaseTakenOver: node A claims a message and dies in the
// middle of delivering it; node B delivers it once A's lease has expired,
// and A's late result is not written over B's.
func testDeadNodeLeaseTakenOver(t *testing.T, e *env) {
	sk, client := startSink(t)
	optsA := e.options()
	optsA.Lease = 2 * time.Second
	br := &blockingRemote{called: make(chan struct{}), release: make(chan struct{}), err: reply.New(451, "4.4.1", "too late")}
	optsA.Remote = br
	a, err := Open(optsA)
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	id, err := a.Enqueue(context.Background(), envFrom("alice@local.test", "x@remote.test"), testMsg("orphan"))
	if err != nil {
		t.Fatal(err)
	}
	<-br.called
	crash(a)

	optsB := optsA
	optsB.Remote = client
	b := e.open(optsB)
	// B must not take the message while A's lease runs.
	var until time.Time
	if err := b.pg.pool.QueryRow(context.Background(), `SELECT lease_until FROM queue_messages WHERE id = $1`, id).Scan(&until); err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	if time.Now().Before(until) {
		t.Fatalf("delivered before the dead node's lease ended (%v)", until)
	}
	if c := sk.count("orphan"); c != 1 {
		t.Fatalf("delivered %d times, want 1", c)
	}
	// A comes back to life with its stale result: it must find the lease
	// gone and write nothing.
	close(br.release)
	a.wg.Wait()
	if items, err := e.manager().List(context.Background()); err != nil || len(items) != 0 {
		t.Fatalf("queue after the dead node's late result: %v %v", items, err)
	}
	if !strings.Contains(e.logs.String(), "taken over by another node") {
		t.Error("the dead node did not notice that it lost its lease")
	}
	a.pg.close()
}

// testPGManagement: list, show, retry, flush and drop through SQL while a
// node runs, woken by NOTIFY.
func testPGManagement(t *testing.T, e *env) {
	ctx := context.Background()
	e.remote.script = func(_ int, _ string, rcpts []envelope.Recipient) []error {
		return all(rcpts, reply.New(451, "4.3.0", "later"))
	}
	opts := e.options()
	opts.FirstRetry, opts.MaxRetry = time.Hour, time.Hour
	opts.RescanInterval = time.Hour // only NOTIFY wakes the node
	q := e.open(opts)
	id1, err := q.Enqueue(ctx, envFrom("alice@local.test", "one@remote.test"), testMsg("one"))
	if err != nil {
		t.Fatal(err)
	}
	id2, err := q.Enqueue(ctx, envFrom("alice@local.test", "two@remote.test"), testMsg("two"))
	if err != nil {
		t.Fatal(err)
	}
	m := e.manager()
	waitFor(t, "first attempts", func() bool {
		items, err := m.List(ctx)
		return err == nil && len(items) == 2 && items[0].Recipients[0].Attempts == 1 && items[1].Recipients[0].Attempts == 1
	})
	it, hdr, err := m.Show(ctx, id1)
	if err != nil || it.ID != id1 || !strings.Contains(string(hdr), "Subject: one") || strings.Contains(string(hdr), "Body") {
		t.Fatalf("Show = %+v %q %v", it, hdr, err)
	}
	if _, _, err := m.Show(ctx, "nonesuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Show(nonesuch) = %v", err)
	}
	if err := m.Retry(ctx, "nonesuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Retry(nonesuch) = %v", err)
	}
	calls := e.remote.callCount()
	waitFor(t, "entries released", func() bool { return len(q.heldIDs()) == 0 })
	if err := m.Retry(ctx, id1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retry of one", func() bool { return e.remote.callCount() == calls+1 })
	waitFor(t, "entries released", func() bool { return len(q.heldIDs()) == 0 })
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "flush", func() bool { return e.remote.callCount() == calls+3 })
	waitFor(t, "entries released", func() bool { return len(q.heldIDs()) == 0 })
	// A retry asked while a node holds the entry (here a node that died
	// holding it for another second) is applied by whoever claims it next.
	if _, err := q.pg.pool.Exec(ctx, `UPDATE queue_messages SET lease_owner = 'ghost', lease_until = $2 WHERE id = $1`,
		id1, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := m.Retry(ctx, id1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retry of a leased entry", func() bool {
		q.Rescan() // the periodic rescan, after the lease has ended
		return e.remote.callCount() == calls+4
	})
	waitFor(t, "entries released", func() bool { return len(q.heldIDs()) == 0 })
	if err := m.Drop(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if err := m.Drop(ctx, id2); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Drop = %v", err)
	}
	items, err := m.List(ctx)
	if err != nil || len(items) != 1 || items[0].ID != id1 || items[0].Recipients[0].Attempts != 4 {
		t.Fatalf("List after drop = %+v %v", items, err)
	}
}

// testPGDurableAcrossReopen: what a node enqueued is delivered by the next
// node to open the database, after the first one stopped.
func testPGDurableAcrossReopen(t *testing.T, e *env) {
	opts := e.options()
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(context.Background(), envFrom("alice@local.test", "bob@local.test"), testMsg("durable")); err != nil {
		t.Fatal(err)
	}
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.open(opts)
	e.waitEmpty()
	if got := e.inbox("bob@local.test"); len(got) != 1 {
		t.Fatalf("bob has %d messages, want 1", len(got))
	}
}
