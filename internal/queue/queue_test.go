package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pochta/internal/envelope"
	"pochta/internal/mda"
	"pochta/internal/reply"
	"pochta/internal/store"
	"pochta/internal/store/sqlite"
)

// testRemote is a test implementation of Remote (our interface; the real
// SMTP client is tested in its own package): each call is answered by
// script, and calls and concurrency are recorded.
type testRemote struct {
	script func(call int, domain string, rcpts []envelope.Recipient) []error
	hold   time.Duration // how long each call takes

	mu        sync.Mutex
	calls     []remoteCall
	running   map[string]int
	total     int
	maxDomain map[string]int
	maxTotal  int
}

type remoteCall struct {
	From    string
	Domain  string
	Rcpts   []string
	Content []byte
	// RequireTLS is the envelope's REQUIRETLS (RFC 8689).
	RequireTLS bool
}

func (r *testRemote) Deliver(ctx context.Context, domain string, env envelope.Envelope, rcpts []envelope.Recipient, content []byte) []error {
	r.mu.Lock()
	if r.running == nil {
		r.running, r.maxDomain = map[string]int{}, map[string]int{}
	}
	n := len(r.calls)
	r.calls = append(r.calls, remoteCall{env.From, domain, (&envelope.Envelope{Recipients: rcpts}).Addresses(), content, env.RequireTLS})
	r.running[domain]++
	r.total++
	r.maxDomain[domain] = max(r.maxDomain[domain], r.running[domain])
	r.maxTotal = max(r.maxTotal, r.total)
	r.mu.Unlock()
	if r.hold > 0 {
		select {
		case <-time.After(r.hold):
		case <-ctx.Done():
		}
	}
	var errs []error
	if r.script != nil {
		errs = r.script(n, domain, rcpts)
	}
	if errs == nil { // nil from a script: all delivered
		errs = make([]error, len(rcpts))
	}
	r.mu.Lock()
	r.running[domain]--
	r.total--
	r.mu.Unlock()
	return errs
}

func (r *testRemote) snapshot() []remoteCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]remoteCall(nil), r.calls...)
}

func (r *testRemote) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// all answers every recipient of a call with err.
func all(rcpts []envelope.Recipient, err error) []error {
	errs := make([]error, len(rcpts))
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// mtaError is a remote refusal that names the server, as the SMTP client
// may return.
type mtaError struct {
	r    *reply.Error
	host string
}

func (e mtaError) Error() string     { return e.r.Error() }
func (e mtaError) RemoteMTA() string { return e.host }
func (e mtaError) Unwrap() error     { return e.r }

// env is a test world: the real sqlite store with local.test (alice, bob)
// behind the real mda.Deliverer.
type env struct {
	t      *testing.T
	st     *sqlite.Store
	local  *mda.Deliverer
	remote *testRemote
	dir    string
	logs   *syncBuffer
	last   *Queue // the queue open started last
	pgURL  string // the PostgreSQL spool's database instead of dir
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "local.test"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@local.test", "bob@local.test"} {
		if _, err := st.AddAccount(ctx, a, "x"); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, st: st, remote: &testRemote{}, dir: filepath.Join(t.TempDir(), "queue"), logs: &syncBuffer{}}
	e.local = mda.New(st, st, nil, slog.New(slog.NewTextHandler(e.logs, nil)))
	return e
}

func (e *env) options() Options {
	return Options{
		Dir:            e.dir,
		Hostname:       "mx.local.test",
		Local:          e.local,
		Remote:         e.remote,
		FirstRetry:     20 * time.Millisecond,
		MaxRetry:       100 * time.Millisecond,
		Expire:         time.Hour,
		RescanInterval: 20 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(e.logs, nil)),
		PostgresURL:    e.pgURL,
	}
}

// open opens and starts a queue that is shut down at the end of the test.
func (e *env) open(opts Options) *Queue {
	e.t.Helper()
	q, err := Open(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	q.Start()
	e.t.Cleanup(func() { q.Shutdown(context.Background()) })
	e.last = q
	return q
}

// inbox returns the messages in addr's INBOX.
func (e *env) inbox(addr string) [][]byte {
	e.t.Helper()
	ctx := context.Background()
	acct, err := e.st.GetAccount(ctx, addr)
	if err != nil {
		e.t.Fatal(err)
	}
	mb, err := e.st.GetMailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	uids, err := e.st.UIDs(ctx, mb.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out [][]byte
	for _, uid := range uids {
		r, err := e.st.Open(ctx, mb.ID, uid)
		if err != nil {
			e.t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// waitEmpty waits until the spool holds no entry (every recipient done and
// every DSN delivered).
func (e *env) waitEmpty() {
	e.t.Helper()
	waitFor(e.t, "queue to empty", func() bool {
		items, err := e.manager().List(context.Background())
		return err == nil && len(items) == 0
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testMsg(subject string) []byte {
	return []byte("From: alice@local.test\r\nTo: someone\r\nSubject: " + subject + "\r\nMessage-ID: <" + subject + "@local.test>\r\n\r\nBody of " + subject + ".\r\n")
}

func envFrom(from string, rcpts ...string) envelope.Envelope {
	env := envelope.Envelope{From: from, Received: time.Now()}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, envelope.Recipient{Address: r})
	}
	return env
}

func TestEnqueueDurableAcrossReopen(t *testing.T) {
	e := newEnv(t)
	q, err := Open(e.options())
	if err != nil {
		t.Fatal(err)
	}
	durable := envFrom("alice@local.test", "bob@remote.test")
	durable.RequireTLS = true // kept in the spool (RFC 8689)
	id, err := q.Enqueue(context.Background(), durable, testMsg("durable"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Shutdown(context.Background()); err != nil { // never started: nothing delivered
		t.Fatal(err)
	}
	if _, err := q.Enqueue(context.Background(), envFrom("alice@local.test", "bob@remote.test"), testMsg("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after Shutdown: %v", err)
	}
	items, err := List(e.dir)
	if err != nil || len(items) != 1 || items[0].ID != id || items[0].Recipients[0].Status != StatusPending {
		t.Fatalf("after shutdown: %+v, %v", items, err)
	}
	if e.remote.callCount() != 0 {
		t.Fatal("delivered before Start")
	}

	e.open(e.options())
	e.waitEmpty()
	if n := e.remote.callCount(); n != 1 {
		t.Fatalf("%d remote calls, want 1", n)
	}
	c := e.remote.snapshot()[0]
	if c.Domain != "remote.test" || !bytes.Equal(c.Content, testMsg("durable")) || c.Rcpts[0] != "bob@remote.test" || !c.RequireTLS {
		t.Fatalf("remote call %+v", c)
	}
	if n := len(e.inbox("alice@local.test")); n != 0 {
		t.Fatalf("sender got %d messages, want none", n)
	}
	if !strings.Contains(e.logs.String(), "delivery attempt") || !strings.Contains(e.logs.String(), "id="+id) {
		t.Errorf("no attempt log line:\n%s", e.logs)
	}
}

func TestCrashRecovery(t *testing.T) {
	e := newEnv(t)
	q, err := Open(e.options())
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.Enqueue(context.Background(), envFrom("alice@local.test", "bob@local.test"), testMsg("survivor"))
	if err != nil {
		t.Fatal(err)
	}
	// Simulate a crash: abandon q without Shutdown (its flock goes with its
	// descriptor, as with a killed process) and leave the debris of
	// interrupted writes behind.
	q.sp.close()
	orphan, _ := newID(time.Now())
	broken, _ := newID(time.Now().Add(time.Second))
	// An envelope committed without its content (directory updates
	// reordered by the file system before Enqueue returned).
	noContent, _ := newID(time.Now().Add(2 * time.Second))
	rec := &record{Version: recordVersion, ID: noContent, Envelope: envFrom("alice@local.test", "bob@local.test"),
		Recipients: []RecipientState{{Address: "bob@local.test", Status: StatusPending}}}
	if err := saveRecord(e.dir, rec); err != nil {
		t.Fatal(err)
	}
	debris := map[string]string{
		filepath.Join(msgDir, orphan):               "content whose envelope was never committed",
		filepath.Join(envDir, id+envExt+tmpExt):     `{"Version":1,"ID":"` + id + `","Envelo`,
		filepath.Join(envDir, orphan+envExt+tmpExt): `{"half`,
		filepath.Join(ctlDir, flushRequest+tmpExt):  "",
		filepath.Join(envDir, broken+envExt):        `{not json`,
		filepath.Join(msgDir, broken):               "content of a broken entry",
	}
	for name, data := range debris {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	e.open(e.options())
	debris[filepath.Join(envDir, noContent+envExt)] = ""
	for name := range debris {
		if _, err := os.Stat(filepath.Join(e.dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after recovery (%v)", name, err)
		}
	}
	if names, _ := readDirNames(filepath.Join(e.dir, badDir)); strings.Join(names, " ") != broken+" "+broken+envExt {
		t.Errorf("corrupt/ holds %v, want only the broken entry", names)
	}
	e.waitEmpty()
	got := e.inbox("bob@local.test")
	if len(got) != 1 || !bytes.Contains(got[0], []byte("Subject: survivor")) {
		t.Fatalf("bob's INBOX after recovery: %q", got)
	}
}

func TestLocalDelivery(t *testing.T) { testLocalDelivery(t, newEnv) }

func testLocalDelivery(t *testing.T, newEnv func(*testing.T) *env) {
	e := newEnv(t)
	e.open(e.options())
	env := envFrom("someone@remote.test", "bob@local.test", "alice@local.test")
	if _, err := e.enqueue(env, testMsg("local")); err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	for _, a := range []string{"alice@local.test", "bob@local.test"} {
		got := e.inbox(a)
		if len(got) != 1 || !bytes.HasPrefix(got[0], []byte("Return-Path: <someone@remote.test>\r\n")) || !bytes.Contains(got[0], []byte("Body of local.")) {
			t.Fatalf("%s INBOX: %q", a, got)
		}
	}
	if e.remote.callCount() != 0 {
		t.Fatal("local mail went to Remote")
	}
}

// enqueue enqueues into the queue the last e.open started.
func (e *env) enqueue(env envelope.Envelope, content []byte) (string, error) {
	return e.last.Enqueue(context.Background(), env, content)
}

func TestRetryThenDelivered(t *testing.T) { testRetryThenDelivered(t, newEnv) }

func testRetryThenDelivered(t *testing.T, newEnv func(*testing.T) *env) {
	e := newEnv(t)
	e.remote.script = func(call int, _ string, rcpts []envelope.Recipient) []error {
		if call == 0 {
			return all(rcpts, reply.New(451, "4.7.1", "Greylisted, try again"))
		}
		return nil
	}
	q := e.open(e.options())
	id, err := q.Enqueue(context.Background(), envFrom("alice@local.test", "carol@remote.test"), testMsg("retry"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first attempt recorded", func() bool {
		it, _, err := e.show(id)
		return err == nil && it.Recipients[0].Attempts == 1 || e.remote.callCount() >= 2
	})
	e.waitEmpty()
	if n := e.remote.callCount(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
	if got := e.inbox("alice@local.test"); len(got) != 0 {
		t.Fatalf("sender got a DSN for a delivered message: %s", got[0])
	}
}

func TestBounceOnPermanentFailure(t *testing.T) { testBounceOnPermanentFailure(t, newEnv) }

func testBounceOnPermanentFailure(t *testing.T, newEnv func(*testing.T) *env) {
	for _, ret := range []string{"", "HDRS", "FULL"} {
		t.Run("RET="+ret, func(t *testing.T) {
			e := newEnv(t)
			e.remote.script = func(_ int, _ string, rcpts []envelope.Recipient) []error {
				errs := make([]error, len(rcpts))
				for i, r := range rcpts {
					if strings.HasPrefix(r.Address, "gone") {
						errs[i] = mtaError{reply.New(550, "5.1.1", "<%s>: Recipient address rejected: User unknown", r.Address), "mx1.remote.test"}
					}
				}
				return errs
			}
			e.open(e.options())
			env := envFrom("alice@local.test", "gone@remote.test", "ok@remote.test")
			env.EnvID = "ENV+42"
			env.Ret = ret
			env.Recipients[0].ORcpt = "rfc822;Gone+old@remote.test"
			if _, err := e.enqueue(env, testMsg("bounce")); err != nil {
				t.Fatal(err)
			}
			e.waitEmpty()
			box := e.inbox("alice@local.test")
			if len(box) != 1 {
				t.Fatalf("sender has %d messages, want 1 DSN", len(box))
			}
			raw := box[0]
			if !bytes.HasPrefix(raw, []byte("Return-Path: <>\r\n")) {
				t.Errorf("DSN not sent with the null sender:\n%s", raw)
			}
			d := parseDSN(t, raw)
			if d.Header.Get("Auto-Submitted") != "auto-replied" || d.Header.Get("From") != "Mail Delivery System <MAILER-DAEMON@mx.local.test>" {
				t.Errorf("DSN header:\n%s", raw)
			}
			if d.ReportType != "delivery-status" || d.PerMessage.Get("Reporting-MTA") != "dns; mx.local.test" || d.PerMessage.Get("Original-Envelope-Id") != "ENV+42" {
				t.Errorf("per-message fields: %v", d.PerMessage.Map())
			}
			if !d.PerMessage.Has("Arrival-Date") {
				t.Error("no Arrival-Date")
			}
			if len(d.PerRcpt) != 1 {
				t.Fatalf("%d recipient blocks, want 1 (only the failed one)", len(d.PerRcpt))
			}
			r := d.PerRcpt[0]
			for k, v := range map[string]string{
				"Final-Recipient":    "rfc822; gone@remote.test",
				"Original-Recipient": "rfc822; Gone+old@remote.test",
				"Action":             "failed",
				"Status":             "5.1.1",
				"Remote-MTA":         "dns; mx1.remote.test",
				"Diagnostic-Code":    "smtp; 550 5.1.1 <gone@remote.test>: Recipient address rejected: User unknown",
			} {
				if got := r.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !r.Has("Last-Attempt-Date") {
				t.Error("no Last-Attempt-Date")
			}
			if !strings.Contains(d.Text, "User unknown") {
				t.Errorf("human part lacks the remote text:\n%s", d.Text)
			}
			full := ret == "FULL"
			wantType := map[bool]string{false: "text/rfc822-headers", true: "message/rfc822"}[full]
			if d.OrigType != wantType || !bytes.Contains(d.Orig, []byte("Subject: bounce")) || bytes.Contains(d.Orig, []byte("Body of bounce.")) != full {
				t.Errorf("returned part %s:\n%s", d.OrigType, d.Orig)
			}
		})
	}
}

// TestBounceToRemoteSender: the DSN for a remote sender leaves through
// Remote, with the null reverse-path, and its own failure is not bounced.
func TestBounceToRemoteSender(t *testing.T) { testBounceToRemoteSender(t, newEnv) }

func testBounceToRemoteSender(t *testing.T, newEnv func(*testing.T) *env) {
	e := newEnv(t)
	e.remote.script = func(_ int, _ string, rcpts []envelope.Recipient) []error {
		return all(rcpts, reply.New(554, "5.7.1", "Rejected"))
	}
	e.open(e.options())
	if _, err := e.enqueue(envFrom("ext@far.test", "x@other.test"), testMsg("far")); err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	calls := e.remote.snapshot()
	if len(calls) != 2 {
		t.Fatalf("%d remote calls, want the message and its DSN", len(calls))
	}
	dsn := calls[1]
	if dsn.From != "" || dsn.Domain != "far.test" || dsn.Rcpts[0] != "ext@far.test" {
		t.Fatalf("DSN call %+v", dsn)
	}
	if d := parseDSN(t, dsn.Content); d.PerRcpt[0].Get("Diagnostic-Code") != "smtp; 554 5.7.1 Rejected" {
		t.Errorf("DSN fields %v", d.PerRcpt[0].Map())
	}
}

func TestLocalFailureBounces(t *testing.T) { testLocalFailureBounces(t, newEnv) }

func testLocalFailureBounces(t *testing.T, newEnv func(*testing.T) *env) {
	e := newEnv(t)
	e.open(e.options())
	if _, err := e.enqueue(envFrom("alice@local.test", "nobody@local.test"), testMsg("nobody")); err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	box := e.inbox("alice@local.test")
	if len(box) != 1 {
		t.Fatalf("sender has %d messages, want 1 DSN", len(box))
	}
	r := parseDSN(t, box[0]).PerRcpt[0]
	if r.Get("Status") != "5.1.1" || r.Get("Action") != "failed" || r.Has("Remote-MTA") {
		t.Errorf("recipient block %v", r.Map())
	}
}

func TestExpiry(t *testing.T) { testExpiry(t, newEnv) }

func testExpiry(t *testing.T, newEnv func(*testing.T) *env) {
	e := newEnv(t)
	e.remote.script = func(_ int, _ string, rcpts []envelope.Recipient) []error {
		return all(rcpts, reply.New(421, "4.4.2", "Too busy, come back later"))
	}
	opts := e.options()
	opts.Expire = 400 * time.Millisecond
	q := e.open(opts)
	id, err := q.Enqueue(context.Background(), envFrom("alice@local.test", "slow@remote.test"), testMsg("expire"))
	if err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	if n := e.remote.callCount(); n < 2 {
		t.Fatalf("%d attempts before expiry, want retries", n)
	}
	box := e.inbox("alice@local.test")
	if len(box) != 1 {
		t.Fatalf("sender has %d messages, want 1 DSN", len(box))
	}
	r := parseDSN(t, box[0]).PerRcpt[0]
	if r.Get("Action") != "failed" || r.Get("Status") != "4.4.7" || r.Get("Diagnostic-Code") != "smtp; 421 4.4.2 Too busy, come back later" {
		t.Errorf("recipient block %v", r.Map())
	}
	if !strings.Contains(e.logs.String(), "id="+id) {
		t.Error("no log lines for the entry")
	}
}

func TestNoBounceToNullSenderOrNever(t *testing.T) { testNoBounceToNullSenderOrNever(t, newEnv) }

func testNoBounceToNullSenderOrNever(t *testing.T, newEnv func(*testing.T) *env) {
	e := newEnv(t)
	e.remote.script = func(_ int, _ string, rcpts []envelope.Recipient) []error {
		return all(rcpts, reply.New(550, "5.1.1", "No such user"))
	}
	e.open(e.options())
	never := envFrom("alice@local.test", "x@remote.test")
	never.Recipients[0].Notify = []string{"NEVER"}
	if _, err := e.enqueue(never, testMsg("never")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.enqueue(envFrom("", "y@remote.test"), testMsg("null")); err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	if n := e.remote.callCount(); n != 2 {
		t.Fatalf("%d remote calls, want 2", n)
	}
	if box := e.inbox("alice@local.test"); len(box) != 0 {
		t.Fatalf("a DSN was sent:\n%s", box[0])
	}
	if !strings.Contains(e.logs.String(), "null sender") {
		t.Errorf("no log line about the dropped bounce:\n%s", e.logs)
	}
}

func TestNotifySuccess(t *testing.T) { testNotifySuccess(t, newEnv) }

func testNotifySuccess(t *testing.T, newEnv func(*testing.T) *env) {
	e := newEnv(t)
	e.open(e.options())
	env := envFrom("alice@local.test", "bob@local.test", "dave@remote.test", "quiet@remote.test")
	env.Recipients[0].Notify = []string{"SUCCESS", "FAILURE"}
	env.Recipients[1].Notify = []string{"SUCCESS"}
	env.Recipients[1].ORcpt = "rfc822;dave@remote.test"
	if _, err := e.enqueue(env, testMsg("success")); err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	box := e.inbox("alice@local.test")
	if len(box) != 1 {
		t.Fatalf("sender has %d messages, want 1 success DSN", len(box))
	}
	d := parseDSN(t, box[0])
	if d.Header.Get("Subject") != "Successful Mail Delivery Report" || len(d.PerRcpt) != 2 {
		t.Fatalf("success DSN:\n%s", box[0])
	}
	got := map[string]string{}
	for _, r := range d.PerRcpt {
		got[r.Get("Final-Recipient")] = r.Get("Action") + " " + r.Get("Status")
	}
	want := map[string]string{
		"rfc822; bob@local.test":   "delivered 2.0.0",
		"rfc822; dave@remote.test": "relayed 2.0.0",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

func TestDelayWarning(t *testing.T) { testDelayWarning(t, newEnv) }

func testDelayWarning(t *testing.T, newEnv func(*testing.T) *env) {
	e := newEnv(t)
	var mu sync.Mutex
	accept := false
	e.remote.script = func(_ int, _ string, rcpts []envelope.Recipient) []error {
		mu.Lock()
		defer mu.Unlock()
		if accept {
			return make([]error, len(rcpts))
		}
		return all(rcpts, reply.New(450, "4.2.1", "Mailbox busy"))
	}
	opts := e.options()
	opts.DelayWarning = 50 * time.Millisecond
	e.open(opts)
	if _, err := e.enqueue(envFrom("alice@local.test", "late@remote.test"), testMsg("delay")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delay DSN", func() bool { return len(e.inbox("alice@local.test")) == 1 })
	d := parseDSN(t, e.inbox("alice@local.test")[0])
	r := d.PerRcpt[0]
	if r.Get("Action") != "delayed" || r.Get("Status") != "4.2.1" || !r.Has("Will-Retry-Until") {
		t.Errorf("delay DSN block %v", r.Map())
	}
	n := e.remote.callCount()
	waitFor(t, "more retries", func() bool { return e.remote.callCount() >= n+2 })
	mu.Lock()
	accept = true
	mu.Unlock()
	e.waitEmpty()
	if box := e.inbox("alice@local.test"); len(box) != 1 {
		t.Fatalf("sender has %d messages, want exactly one delay warning", len(box))
	}
}

func TestConcurrencyLimits(t *testing.T) {
	e := newEnv(t)
	e.remote.hold = 30 * time.Millisecond
	opts := e.options()
	opts.Workers = 3
	opts.PerDomain = 2
	q := e.open(opts)
	for i := range 6 {
		for _, d := range []string{"a.test", "b.test"} {
			if _, err := q.Enqueue(context.Background(), envFrom("alice@local.test", fmt.Sprintf("u%d@%s", i, d)), testMsg("c")); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.waitEmpty()
	r := e.remote
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) != 12 {
		t.Fatalf("%d calls, want 12", len(r.calls))
	}
	if r.maxTotal > 3 || r.maxDomain["a.test"] > 2 || r.maxDomain["b.test"] > 2 {
		t.Fatalf("limits exceeded: total %d, per domain %v", r.maxTotal, r.maxDomain)
	}
	if r.maxTotal < 2 {
		t.Fatalf("deliveries never ran concurrently (max %d)", r.maxTotal)
	}
}

func TestOneCallPerDomain(t *testing.T) {
	e := newEnv(t)
	q := e.open(e.options())
	env := envFrom("alice@local.test", "a@x.test", "b@y.test", "c@X.TEST", "bob@local.test")
	if _, err := q.Enqueue(context.Background(), env, testMsg("group")); err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	got := map[string]string{}
	for _, c := range e.remote.snapshot() {
		got[c.Domain] = strings.Join(c.Rcpts, ",")
	}
	if len(e.remote.snapshot()) != 2 || got["x.test"] != "a@x.test,c@X.TEST" || got["y.test"] != "b@y.test" {
		t.Fatalf("calls %v", got)
	}
	if len(e.inbox("bob@local.test")) != 1 {
		t.Fatal("local recipient not delivered")
	}
}

func TestShutdownWaitsAndCancels(t *testing.T) {
	e := newEnv(t)
	e.remote.hold = time.Hour // ends only when the context is cancelled
	e.remote.script = func(_ int, _ string, rcpts []envelope.Recipient) []error {
		return all(rcpts, reply.New(421, "4.4.2", "Connection lost"))
	}
	q, err := Open(e.options())
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	if _, err := q.Enqueue(context.Background(), envFrom("alice@local.test", "z@remote.test"), testMsg("stuck")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "attempt to start", func() bool { return e.remote.callCount() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	// The cancelled attempt is recorded as deferred and the spool is
	// usable again by the next queue.
	e.remote = &testRemote{} // the cancelled attempt may still be returning
	waitFor(t, "lock release", func() bool {
		l, err := tryLock(e.dir)
		l.unlock()
		return err == nil
	})
	e.open(e.options())
	e.waitEmpty()
}

func TestEnqueueRejectsBadEnvelope(t *testing.T) {
	e := newEnv(t)
	q := e.open(e.options())
	if _, err := q.Enqueue(context.Background(), envFrom("alice@local.test"), testMsg("none")); err == nil {
		t.Error("no recipients accepted")
	}
	if _, err := q.Enqueue(context.Background(), envFrom("alice@local.test", "nodomain"), testMsg("x")); err == nil {
		t.Error("recipient without domain accepted")
	}
	opts := e.options()
	opts.lockWait = 50 * time.Millisecond
	if _, err := Open(opts); !errors.Is(err, errLocked) {
		t.Errorf("a second queue on the same spool: %v", err)
	}
}

func TestIDs(t *testing.T) {
	now := time.Now()
	a, _ := newID(now)
	b, _ := newID(now.Add(time.Nanosecond))
	c, _ := newID(now.Add(time.Nanosecond))
	if !validID(a) || !(a < b) || b == c {
		t.Fatalf("ids %s %s %s", a, b, c)
	}
	for _, bad := range []string{"", "../../etc/passwd", strings.Repeat("g", idLen), strings.ToUpper(a)} {
		if validID(bad) {
			t.Errorf("validID(%q)", bad)
		}
	}
}

func TestBackoff(t *testing.T) {
	q := &Queue{opts: Options{FirstRetry: time.Minute, MaxRetry: time.Hour}}
	for n, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 7: time.Hour, 500: time.Hour} {
		got := q.backoff(n)
		if got < want || got > want+want/10 {
			t.Errorf("backoff(%d) = %v, want %v + up to 10%%", n, got, want)
		}
	}
}

var _ store.Store = (*sqlite.Store)(nil)

// nopLocal serves no domain (for tests that never deliver locally).
type nopLocal struct{}

func (nopLocal) IsLocalDomain(context.Context, string) (bool, error) { return false, nil }
func (nopLocal) Deliver(_ context.Context, env envelope.Envelope, _ []byte) []error {
	return fill(nil, len(env.Recipients), reply.ErrNoRelay)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestRequireTLSBounce: the DSN of a REQUIRETLS message (RFC 8689 §5)
// returns only the header even with RET=FULL, and goes with REQUIRETLS;
// when REQUIRETLS cannot be met for it (5.7.30), a redacted copy, without
// the returned header, goes without REQUIRETLS, once.
func TestRequireTLSBounce(t *testing.T) { testRequireTLSBounce(t, newEnv) }

func testRequireTLSBounce(t *testing.T, newEnv func(*testing.T) *env) {
	e := newEnv(t)
	e.remote.script = func(call int, _ string, rcpts []envelope.Recipient) []error {
		switch call {
		case 0: // the message
			return all(rcpts, reply.New(550, "5.7.30", "REQUIRETLS support required"))
		case 1: // its DSN, with REQUIRETLS, to a sender without validated TLS
			return all(rcpts, reply.New(550, "5.7.30", "REQUIRETLS: no MTA-STS policy or DNSSEC-authenticated TLSA records validate mx.far.test"))
		}
		return nil
	}
	e.open(e.options())
	env := envFrom("ext@far.test", "x@other.test")
	env.RequireTLS, env.Ret = true, "FULL"
	if _, err := e.enqueue(env, testMsg("secret")); err != nil {
		t.Fatal(err)
	}
	e.waitEmpty()
	calls := e.remote.snapshot()
	if len(calls) != 3 {
		t.Fatalf("%d remote calls, want the message, its DSN and the redacted DSN: %+v", len(calls), calls)
	}
	dsn, redacted := calls[1], calls[2]
	if dsn.From != "" || !dsn.RequireTLS || dsn.Rcpts[0] != "ext@far.test" {
		t.Fatalf("DSN call %+v", dsn)
	}
	d := parseDSN(t, dsn.Content)
	if d.OrigType != "text/rfc822-headers" || !bytes.Contains(d.Orig, []byte("Subject: secret")) || bytes.Contains(dsn.Content, []byte("Body of secret")) {
		t.Fatalf("DSN of a REQUIRETLS message with RET=FULL returns %s:\n%s", d.OrigType, d.Orig)
	}
	if redacted.From != "" || redacted.RequireTLS || redacted.Rcpts[0] != "ext@far.test" {
		t.Fatalf("redacted DSN call %+v", redacted)
	}
	r := parseDSNParts(t, redacted.Content, 2)
	if bytes.Contains(redacted.Content, []byte("Subject: secret")) || r.PerRcpt[0].Get("Status") != "5.7.30" ||
		r.Header.Get("Message-ID") != d.Header.Get("Message-ID") {
		t.Fatalf("redacted DSN (%d parts):\n%s", r.Parts, redacted.Content)
	}
}
