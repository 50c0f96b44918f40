// Package queue is the MTA's durable spool for mail that leaves through
// SMTP (and for bounces). Everything queued survives restarts and kill -9:
// Enqueue returns only once the message is on disk. Recipients are grouped
// per destination domain; local domains are handed to local delivery,
// remote ones to the SMTP client, one call per domain, under a total and a
// per-domain concurrency limit. Temporary failures (4xx) are retried with
// growing intervals until the entry expires; permanent failures (5xx) and
// expiry produce a delivery status notification (RFC 3464) to the sender,
// queued back into this same queue.
//
// # Spool layout
//
// Under Options.Dir:
//
//	msg/<id>         the message content; written once, fsynced, never changed
//	env/<id>.json    envelope and per-recipient state; replaced atomically
//	                 (write env/<id>.json.tmp, fsync, rename, fsync env/)
//	ctl/             management requests from other processes (see below)
//	corrupt/         entries Open could not read, set aside for the operator
//	lock             flock(2)ed by the running queue for its whole life
//
// An id is 16 hex digits of the creation time in Unix nanoseconds followed
// by 8 random hex digits, so ids are unique and sort by age. The envelope
// file is the commit point: Enqueue writes and fsyncs the content (and its
// directory) no later than it commits the envelope, and removal deletes
// the envelope before the content. On Open, stray *.tmp files and content
// without an envelope (an Enqueue interrupted by a crash) are removed, as
// is an envelope without content that was never attempted (an interrupted
// Enqueue on a file system that reordered the two directory updates);
// every committed entry is scheduled again. A crash between a delivery and
// the write of its result re-delivers that recipient once more (the
// at-least-once minimum of RFC 5321 §6.1); a pending recipient is never
// forgotten. An entry whose last recipient was just delivered is removed
// without its state being written first (the removal is the record of
// it), and removals share their fsyncs of env/ (dirsync.go).
//
// # On PostgreSQL
//
// With Options.PostgresURL the spool is a table shared by any number of
// queues on different nodes instead of the directory; each holds an entry
// only while it works on it, under a lease (see pgspool.go). Management
// then goes through SQL (OpenPostgresManager), not ctl/.
//
// # Management from another process
//
// List and Show read the spool directly (envelope files are replaced
// atomically, so a reader never sees a partial one). Retry, Drop and Flush
// write a request file into ctl/ ("<id>.retry", "<id>.drop", "flush").
// When no queue is running (the lock is free) they apply it at once
// themselves, holding the lock. Otherwise the running queue picks requests
// up every Options.RescanInterval (2 s by default) or when Rescan is called
// (the server calls it on SIGHUP), and the command waits until the request
// file is gone. Requests left over when the queue stops are applied by the
// next Open.
package queue

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"pochta/internal/envelope"
	"pochta/internal/message"
	"pochta/internal/reply"
)

// Local is local delivery (*mda.Deliverer).
type Local interface {
	IsLocalDomain(ctx context.Context, domain string) (bool, error)
	// Deliver returns one error per recipient of env, nil where delivered.
	Deliver(ctx context.Context, env envelope.Envelope, content []byte) []error
}

// Remote is delivery over SMTP (*smtpclient.Client): one call per
// destination domain, one result per recipient (nil = delivered, a
// *reply.Error whose Temporary() tells a 4xx from a 5xx otherwise). An
// error may also implement RemoteMTA() string to name the server that
// answered; it is reported in bounces as Remote-MTA.
type Remote interface {
	Deliver(ctx context.Context, domain string, env envelope.Envelope, rcpts []envelope.Recipient, content []byte) []error
}

// Signer DKIM-signs a message with the key of domain ("" = its From
// domain), as internal/dkim's Signer (wired by internal/app).
type Signer interface {
	Sign(domain string, content []byte) ([]byte, error)
}

// Options configure a Queue. Zero durations and counts take the defaults
// noted; DelayWarning 0 means no delay warnings.
type Options struct {
	Dir      string // data_dir/queue (unused with PostgresURL)
	Hostname string // Reporting-MTA and MAILER-DAEMON@Hostname of bounces
	Local    Local
	Remote   Remote

	Expire       time.Duration // give up after this long (5 days)
	FirstRetry   time.Duration // first retry interval (5 minutes), doubling
	MaxRetry     time.Duration // cap of the retry interval (4 hours)
	DelayWarning time.Duration // one delay DSN after this long (0 = never)
	Workers      int           // concurrent deliveries in total (20)
	PerDomain    int           // concurrent deliveries per domain (4)

	// RescanInterval is how often management requests in ctl/ are read
	// (2 seconds).
	RescanInterval time.Duration

	Logger *slog.Logger
	Now    func() time.Time // the clock; time.Now when nil

	// PostgresURL, when set, keeps the spool in that PostgreSQL database
	// instead of Dir: any number of queues (nodes) share it, each claiming
	// due entries under a lease (see pgspool.go).
	PostgresURL string
	// Lease is how long a claimed entry stays with this node without being
	// extended (PostgreSQL spool; 60 seconds).
	Lease time.Duration

	// MaxHops is the hop limit (100): an entry whose message carries more
	// Received fields is failed with 554 5.4.6 and bounced, never
	// delivered, so a loop through the queue ends (RFC 5321 §6.3).
	MaxHops int
	// Signer DKIM-signs the mail the queue writes itself (DSNs, from
	// MAILER-DAEMON@Hostname) before it is queued; nil leaves it unsigned.
	Signer Signer

	// lockWait overrides how long Open waits for the spool lock (tests).
	lockWait time.Duration
}

// Errors of the management functions.
var (
	ErrNotFound = errors.New("queue: no such message")
	ErrClosed   = errors.New("queue: shutting down")
)

const (
	// attemptTimeout bounds one delivery call.
	attemptTimeout = 30 * time.Minute
	// maxWait bounds the scheduler's sleep, so that a clock change or a
	// missed wake-up never stalls the queue for long.
	maxWait = time.Minute
	// lockWait is how long Open waits for a management command that holds
	// the spool lock.
	lockWait = 5 * time.Second
)

// Queue is an open spool.
type Queue struct {
	opts Options
	dir  string
	log  *slog.Logger
	now  func() time.Time
	sp   spool
	pg   *pgSpool // sp when it is shared by several nodes, else nil

	ctx    context.Context // cancelled when Shutdown gives up waiting
	cancel context.CancelFunc

	wake     chan struct{}
	rescan   chan struct{}
	stop     chan struct{}
	loopDone chan struct{}
	wg       sync.WaitGroup // attempts, finishers and removers

	mu        sync.Mutex
	entries   map[string]*entry
	sched     schedHeap           // entries with something due (sched.go)
	parked    map[string][]*entry // entries waiting for a domain's free slot
	inflight  int
	perDomain map[string]int
	started   bool
	closing   bool
}

// entry is a queued message in memory. All fields but wmu are guarded by
// Queue.mu.
type entry struct {
	rec         *record
	busy        map[string]bool // domains with an attempt running
	finishing   bool            // a finisher or remover is running
	dropped     bool            // Drop asked; remove when not busy
	gone        bool            // removed from disk: never write it again
	finishAfter time.Time       // when to retry a DSN that could not be queued
	// unsaved: the state in memory is newer than the spool's, on purpose
	// (every recipient is done and the entry is about to go, or a flush
	// only moved retry times); Shutdown writes what is still unsaved.
	unsaved bool
	// due, hidx (-1: not in the heap) and parked are the scheduler's
	// (sched.go).
	due    time.Time
	hidx   int
	parked map[string]bool
	// wmu serializes writes of env/<id>.json; taken before Queue.mu.
	wmu sync.Mutex
}

// Open opens (creating if needed) the spool in opts.Dir, recovers from a
// crash, applies pending management requests and loads every entry. It
// takes the spool lock: only one Queue may run on a directory. With
// PostgresURL it connects and migrates the tables instead; any number of
// Queues may share one database.
func Open(opts Options) (*Queue, error) {
	switch {
	case opts.Dir == "" && opts.PostgresURL == "":
		return nil, errors.New("queue: no directory")
	case opts.Hostname == "":
		return nil, errors.New("queue: no hostname")
	case opts.Local == nil || opts.Remote == nil:
		return nil, errors.New("queue: local and remote delivery are required")
	}
	setDefault(&opts.Expire, 5*24*time.Hour)
	setDefault(&opts.FirstRetry, 5*time.Minute)
	setDefault(&opts.MaxRetry, 4*time.Hour)
	setDefault(&opts.RescanInterval, 2*time.Second)
	setDefault(&opts.lockWait, lockWait)
	setDefault(&opts.Lease, defaultLease)
	if opts.Workers <= 0 {
		opts.Workers = 20
	}
	if opts.PerDomain <= 0 {
		opts.PerDomain = 4
	}
	if opts.MaxHops <= 0 {
		opts.MaxHops = 100
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	q := &Queue{
		opts:      opts,
		dir:       opts.Dir,
		log:       opts.Logger,
		now:       opts.Now,
		wake:      make(chan struct{}, 1),
		rescan:    make(chan struct{}, 1),
		stop:      make(chan struct{}),
		loopDone:  make(chan struct{}),
		entries:   map[string]*entry{},
		parked:    map[string][]*entry{},
		perDomain: map[string]int{},
	}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	where := q.dir
	if opts.PostgresURL != "" {
		pg, err := openPGSpool(q.ctx, opts.PostgresURL, opts.Lease, q.log, q.now)
		if err != nil {
			q.cancel()
			return nil, fmt.Errorf("queue: %w", err)
		}
		q.sp, q.pg, where = pg, pg, "postgres"
	} else {
		fs, err := openFileSpool(q.dir, opts.lockWait, q.log, q.now)
		if err != nil {
			q.cancel()
			return nil, fmt.Errorf("queue: %w", err)
		}
		q.sp = fs
	}
	recs, err := q.sp.load(q.ctx)
	if err != nil {
		q.sp.close()
		q.cancel()
		return nil, fmt.Errorf("queue: recovering %s: %w", where, err)
	}
	for _, rec := range recs {
		q.addEntry(rec, false)
	}
	return q, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Enqueue stores a message for delivery and returns its id. On return the
// content and the envelope are durable. The returned error is internal
// (never a *reply.Error); callers answer 451 for it.
func (q *Queue) Enqueue(ctx context.Context, env envelope.Envelope, content []byte) (string, error) {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return "", ErrClosed
	}
	q.wg.Add(1) // Shutdown keeps the spool locked until this returns
	q.mu.Unlock()
	defer q.wg.Done()
	return q.enqueue(ctx, env, content)
}

// enqueue is Enqueue without the shutdown check: bounces produced while
// the queue winds down are still stored.
func (q *Queue) enqueue(ctx context.Context, env envelope.Envelope, content []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if len(env.Recipients) == 0 {
		return "", errors.New("queue: no recipients")
	}
	for _, r := range env.Recipients {
		if envelope.Domain(r.Address) == "" {
			return "", fmt.Errorf("queue: recipient %q has no domain", r.Address)
		}
	}
	now := q.now()
	id, err := newID(now)
	if err != nil {
		return "", fmt.Errorf("queue: %w", err)
	}
	env.Recipients = slices.Clone(env.Recipients)
	rec := &record{
		Version:    recordVersion,
		ID:         id,
		Envelope:   env,
		Created:    now,
		Size:       int64(len(content)),
		Recipients: make([]RecipientState, len(env.Recipients)),
	}
	for i, r := range env.Recipients {
		rec.Recipients[i] = RecipientState{Address: r.Address, Status: StatusPending, NextAttempt: now}
	}
	if err := q.sp.add(ctx, rec, content); err != nil {
		return "", fmt.Errorf("queue: %w", err)
	}
	q.mu.Lock()
	q.addEntry(rec, false)
	q.mu.Unlock()
	q.log.Info("queued", "id", id, "from", env.From, "rcpts", len(env.Recipients), "size", len(content), "smtp_id", env.ID)
	q.kick()
	return id, nil
}

// Start runs the scheduler; deliveries begin at once.
func (q *Queue) Start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started || q.closing {
		return
	}
	q.started = true
	if q.pg != nil {
		q.pg.run(q.Rescan, q.heldIDs)
	}
	go q.loop()
}

// Rescan makes the running queue read management requests now (call it on
// SIGHUP).
func (q *Queue) Rescan() {
	select {
	case q.rescan <- struct{}{}:
	default:
	}
}

// Shutdown stops starting deliveries and waits for those running until ctx
// ends; then it cancels them and returns ctx's error. Enqueue fails from
// now on. Files are only ever replaced atomically, so stopping at any point
// leaves a consistent spool. The spool lock is released once the last
// delivery has returned.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return ErrClosed
	}
	q.closing = true
	started := q.started
	q.mu.Unlock()
	close(q.stop)
	if started {
		<-q.loopDone
	}
	done := make(chan struct{})
	go func() {
		q.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		q.log.Warn("shutdown: cancelling deliveries still running")
	}
	q.cancel()
	select {
	case <-done:
		q.closeSpool()
	default:
		go func() {
			<-done
			q.closeSpool()
		}()
	}
	return err
}

func (q *Queue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// loop is the scheduler: it starts what is due, then sleeps until the next
// due time, a wake-up (enqueue, finished attempt) or a management rescan.
func (q *Queue) loop() {
	defer close(q.loopDone)
	rescan := time.NewTicker(q.opts.RescanInterval)
	defer rescan.Stop()
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	q.rescanSpool()
	for {
		next := q.dispatch()
		wait := maxWait
		if !next.IsZero() {
			wait = min(max(next.Sub(q.now()), time.Millisecond), maxWait)
		}
		timer.Reset(wait)
		select {
		case <-q.stop:
			return
		case <-q.wake:
		case <-timer.C:
		case <-rescan.C:
			q.rescanSpool()
		case <-q.rescan:
			q.rescanSpool()
		}
	}
}

// dispatch starts every due attempt the limits allow, and finishers and
// removers for entries that need them, taking entries from the heap of
// what is due (sched.go) oldest due first. It returns the earliest future
// time something becomes due (zero if none).
func (q *Queue) dispatch() time.Time {
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return time.Time{}
	}
	for {
		q.unparkAll(now)
		for len(q.sched) > 0 && !q.sched[0].due.After(now) {
			e := heap.Pop(&q.sched).(*entry)
			if !q.dispatchEntry(e, now) {
				return time.Time{} // all workers busy: a finishing attempt wakes us
			}
		}
		if !q.roomForParked() {
			break
		}
	}
	if len(q.sched) > 0 {
		return q.sched[0].due
	}
	return time.Time{}
}

// dispatchEntry starts what is due for e (taken out of the heap) and
// schedules it again. It reports false when the worker limit stopped it.
// Called with q.mu held.
func (q *Queue) dispatchEntry(e *entry, now time.Time) bool {
	if e.gone || e.finishing {
		return true
	}
	if e.dropped {
		if len(e.busy) == 0 {
			e.finishing = true
			q.wg.Add(1)
			go q.remove(e, "dropped by request")
		}
		return true
	}
	if len(e.busy) == 0 && q.needsFinish(e, now) {
		if now.Before(e.finishAfter) {
			q.schedule(e, now)
			return true
		}
		e.finishing = true
		q.wg.Add(1)
		go q.finish(e)
		return true
	}
	groups := map[string][]int{}
	var domains []string
	for i, rs := range e.rec.Recipients {
		if rs.Status != StatusPending {
			continue
		}
		d := envelope.Domain(rs.Address)
		if e.busy[d] || e.parked[d] || rs.NextAttempt.After(now) {
			continue
		}
		if groups[d] == nil {
			domains = append(domains, d)
		}
		groups[d] = append(groups[d], i)
	}
	for _, d := range domains {
		if q.inflight >= q.opts.Workers {
			q.schedule(e, now)
			return false
		}
		if q.perDomain[d] >= q.opts.PerDomain {
			q.park(e, d)
			continue
		}
		e.busy[d] = true
		q.inflight++
		q.perDomain[d]++
		q.wg.Add(1)
		go q.attempt(e, d, groups[d])
	}
	q.schedule(e, now)
	return true
}

// needsFinish reports whether e has a DSN to send or can be removed.
// Called with q.mu held.
func (q *Queue) needsFinish(e *entry, now time.Time) bool {
	done := true
	for _, rs := range e.rec.Recipients {
		if rs.Status == StatusPending {
			done = false
		} else if !rs.Reported {
			return true
		}
	}
	return done || q.delayDue(e, now)
}

// delayDue reports whether the one delay warning is due: DelayWarning has
// passed and a pending recipient has already failed an attempt.
func (q *Queue) delayDue(e *entry, now time.Time) bool {
	w := q.opts.DelayWarning
	if w <= 0 || e.rec.DelayWarned || now.Before(e.rec.Created.Add(w)) {
		return false
	}
	for _, rs := range e.rec.Recipients {
		if rs.Status == StatusPending && rs.Attempts > 0 {
			return true
		}
	}
	return false
}

// attempt delivers e's recipients idx, all in domain, and records the
// results.
func (q *Queue) attempt(e *entry, domain string, idx []int) {
	defer q.wg.Done()
	q.mu.Lock()
	id := e.rec.ID
	env := e.rec.Envelope
	rcpts := make([]envelope.Recipient, len(idx))
	for k, i := range idx {
		rcpts[k] = env.Recipients[i]
	}
	q.mu.Unlock()
	env.Recipients = rcpts

	ctx, cancel := context.WithTimeout(q.ctx, attemptTimeout)
	defer cancel()
	var errs []error
	local := false
	content, err := q.sp.content(ctx, id)
	if err == nil {
		local, err = q.opts.Local.IsLocalDomain(ctx, domain)
	}
	switch {
	case err != nil:
		q.log.Error("delivery attempt could not start", "id", id, "domain", domain, "err", err)
		errs = fill(nil, len(idx), err)
	case message.Hops(content) > q.opts.MaxHops: // a loop: bounce, never pass it on
		q.log.Warn("not delivered: too many hops", "id", id, "domain", domain, "max_hops", q.opts.MaxHops)
		errs = fill(nil, len(idx), reply.ErrTooManyHops)
	case local:
		errs = q.opts.Local.Deliver(ctx, env, content)
	default:
		errs = q.opts.Remote.Deliver(ctx, domain, env, rcpts, content)
	}
	if len(errs) != len(idx) {
		q.log.Error("delivery returned the wrong number of results", "id", id, "domain", domain, "want", len(idx), "got", len(errs))
		errs = fill(errs, len(idx), reply.ErrLocal)
	}

	now := q.now()
	var delivered, deferred, failed int
	var problems []string
	q.mu.Lock()
	for k, i := range idx {
		switch q.record(e, i, errs[k], local, now) {
		case StatusDelivered:
			delivered++
		case StatusFailed:
			failed++
		default:
			deferred++
		}
		if errs[k] != nil && len(problems) < 3 {
			problems = append(problems, rcpts[k].Address+": "+errs[k].Error())
		}
	}
	delete(e.busy, domain)
	q.inflight--
	if q.perDomain[domain]--; q.perDomain[domain] <= 0 {
		delete(q.perDomain, domain)
	}
	// When no recipient is left pending, the finisher comes next and
	// removes the entry (or saves it with its DSNs recorded): writing the
	// state now would be an fsync for a file about to go. A crash before
	// the removal re-delivers, as a crash between a delivery and the write
	// of its result always could (at least once, RFC 5321 §6.1).
	skip := len(e.busy) == 0 && !q.closing && !pending(e.rec)
	e.unsaved = e.unsaved || skip
	q.schedule(e, now)
	q.mu.Unlock()

	result := "ok"
	if len(problems) > 0 {
		result = strings.Join(problems, "; ")
	}
	addrs := make([]string, 0, min(len(rcpts), 10))
	for _, r := range rcpts[:min(len(rcpts), 10)] {
		addrs = append(addrs, r.Address)
	}
	if len(rcpts) > len(addrs) {
		addrs = append(addrs, fmt.Sprintf("(+%d more)", len(rcpts)-len(addrs)))
	}
	q.log.Info("delivery attempt", "id", id, "domain", domain, "local", local, "rcpts", strings.Join(addrs, ","),
		"delivered", delivered, "deferred", deferred, "failed", failed, "result", result)
	if !skip {
		q.persist(e)
	}
	q.release(e)
	q.kick()
}

// pending reports whether a recipient of rec still waits for delivery.
func pending(rec *record) bool {
	for _, rs := range rec.Recipients {
		if rs.Status == StatusPending {
			return true
		}
	}
	return false
}

// fill pads errs to n entries with err (nil entries included when errs
// is nil).
func fill(errs []error, n int, err error) []error {
	out := make([]error, n)
	for i := range out {
		if i < len(errs) {
			out[i] = errs[i]
		} else {
			out[i] = err
		}
	}
	return out
}

// record applies the result of one attempt to recipient i. Called with
// q.mu held.
func (q *Queue) record(e *entry, i int, err error, local bool, now time.Time) Status {
	rs := &e.rec.Recipients[i]
	rs.Attempts++
	rs.LastAttempt = now
	rs.NextAttempt = time.Time{}
	rs.RemoteMTA = ""
	if err == nil {
		rs.Status = StatusDelivered
		rs.Relayed = !local
		rs.Reply = nil
		rs.LastError = ""
		return rs.Status
	}
	var m interface{ RemoteMTA() string }
	if errors.As(err, &m) {
		rs.RemoteMTA = m.RemoteMTA()
	}
	r, isReply := reply.As(err)
	if isReply {
		c := *r
		rs.Reply = &c
		rs.LastError = r.Error()
	} else {
		rs.Reply = nil // internal: for the operator only, never in a DSN
		rs.LastError = err.Error()
	}
	if isReply && r.Code >= 500 && r.Code < 600 { // RFC 5321 §4.2.1: permanent
		rs.Status = StatusFailed
		return rs.Status
	}
	expiry := e.rec.Created.Add(q.opts.Expire)
	if !now.Before(expiry) {
		rs.Status = StatusFailed
		rs.DSNStatus = "4.4.7" // RFC 3463 §3.5: delivery time expired
		rs.LastError = "4.4.7 delivery time expired; last error: " + rs.LastError
		return rs.Status
	}
	rs.NextAttempt = now.Add(q.backoff(rs.Attempts))
	if rs.NextAttempt.After(expiry) {
		rs.NextAttempt = expiry // one last try when the time is up
	}
	return rs.Status
}

// backoff is the wait after the n-th failed attempt: FirstRetry doubling
// per attempt, capped at MaxRetry, plus up to 10% jitter so that retries of
// many messages spread out.
func (q *Queue) backoff(n int) time.Duration {
	d := q.opts.FirstRetry
	for i := 1; i < n && d < q.opts.MaxRetry; i++ {
		d *= 2
	}
	d = min(d, q.opts.MaxRetry)
	if j := int64(d / 10); j > 0 {
		d += time.Duration(rand.Int64N(j))
	}
	return d
}

// persist writes e's state durably (a no-op once e is dropped or removed).
func (q *Queue) persist(e *entry) { q.persistCtx(q.ctx, e) }

func (q *Queue) persistCtx(ctx context.Context, e *entry) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	q.mu.Lock()
	if e.gone || e.dropped {
		q.mu.Unlock()
		return
	}
	rec := snapshot(e.rec)
	due := q.dueAt(rec)
	e.unsaved = false
	q.mu.Unlock()
	err := q.sp.save(ctx, rec, due)
	if errors.Is(err, errLeaseLost) {
		q.lost(e)
		return
	}
	if err != nil {
		q.log.Error("cannot save queue entry state", "id", rec.ID, "err", err)
	}
}

// remove deletes e from disk and memory.
func (q *Queue) remove(e *entry, why string) {
	defer q.wg.Done()
	q.removeNow(e, why)
	q.kick()
}

func (q *Queue) removeNow(e *entry, why string) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	q.mu.Lock()
	e.gone = true
	q.unschedule(e)
	id := e.rec.ID
	q.mu.Unlock()
	err := q.sp.remove(q.ctx, id)
	if err != nil && !errors.Is(err, errLeaseLost) {
		q.log.Error("cannot remove queue entry", "id", id, "err", err)
	}
	q.mu.Lock()
	delete(q.entries, id)
	q.mu.Unlock()
	if err == nil {
		q.log.Info("removed from queue", "id", id, "why", why)
	}
}
