// Package conntrack is the connection handling shared by pochta's protocol
// servers (SMTP, POP3, IMAP): the accept loop with back-off on temporary
// errors, the registry of listeners and live sessions, the limits on
// connections in total and per client IP (with exempt networks, and
// Release so that a session saying goodbye stops counting before its
// client can reconnect), and the graceful Shutdown that
// stops the listeners, interrupts idle sessions, waits for work in
// progress and, when its context ends, closes what is left.
//
// What is said on the wire (greetings, refusals, shutdown notices) stays
// with each protocol: a Tracker only calls the hooks in its Options.
package conntrack

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"pochta/internal/auth"
)

// Session is one admitted connection's protocol handler.
type Session interface {
	// Serve runs the session to its end, in its own goroutine. The
	// Tracker closes the accepted connection after Serve returns.
	Serve()
	// Interrupt is called once when Shutdown begins, with the Tracker's
	// lock held, so it must not block or call back into the Tracker. It
	// should make a session that is waiting for its client's next command
	// stop waiting and say goodbye, and let a command in progress finish.
	Interrupt()
}

// Reason says why a connection was refused.
type Reason int

const (
	// Closing: Shutdown has begun.
	Closing Reason = iota + 1
	// TooMany: Options.MaxConns sessions are running.
	TooMany
	// TooManyFromIP: Options.MaxConnsPerIP sessions from the client's
	// address are running.
	TooManyFromIP
)

func (r Reason) String() string {
	switch r {
	case Closing:
		return "closing"
	case TooMany:
		return "too many connections"
	case TooManyFromIP:
		return "too many connections from one address"
	}
	return "unknown"
}

// refuseWriteTimeout bounds how long a refusal may take to write.
const refuseWriteTimeout = 5 * time.Second

// Options configure a Tracker.
type Options struct {
	// MaxConns and MaxConnsPerIP bound the concurrent sessions in total
	// and per client IP address; both must be positive.
	MaxConns, MaxConnsPerIP int
	// PerIPExempt lists networks whose clients are not held to
	// MaxConnsPerIP (only to MaxConns), as Postfix exempts $mynetworks
	// with smtpd_client_connection_limit_exceptions: typically loopback,
	// where a local load generator or webmail opens many sessions.
	PerIPExempt []netip.Prefix
	// ErrClosed is what Serve returns after Shutdown.
	ErrClosed error
	// NewSession builds the session for an admitted connection; it is
	// called with the Tracker's lock held and must not block.
	NewSession func(conn net.Conn, ip netip.Addr) Session
	// Refuse, if set, answers a connection that is turned away (a
	// protocol-specific "try again later"). A write deadline is already
	// set; the Tracker closes conn when Refuse returns. It runs in its own
	// goroutine, which Shutdown waits for, except for Closing, where it
	// runs in the accept loop that is about to end.
	Refuse func(conn net.Conn, why Reason)
}

// Tracker accepts, limits and tracks connections for one server. Build it
// with New; it serves any number of listeners.
type Tracker struct {
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	sessions  map[net.Conn]*entry
	counted   int // sessions still counted toward MaxConns
	perIP     map[netip.Addr]int
	wg        sync.WaitGroup
}

// entry is one running session. It stays registered (for Shutdown) until
// its Serve returns, but stops counting toward the limits as soon as it
// is released.
type entry struct {
	sess     Session
	ip       netip.Addr
	released bool
}

// New returns a Tracker with opts.
func New(opts Options) *Tracker {
	ctx, cancel := context.WithCancel(context.Background())
	return &Tracker{
		opts: opts, ctx: ctx, cancel: cancel,
		done:      make(chan struct{}),
		listeners: map[net.Listener]struct{}{},
		sessions:  map[net.Conn]*entry{},
		perIP:     map[netip.Addr]int{},
	}
}

// Context is the parent for the sessions' work: it is cancelled when
// Shutdown returns or gives up waiting.
func (t *Tracker) Context() context.Context { return t.ctx }

// Done is closed when Shutdown begins.
func (t *Tracker) Done() <-chan struct{} { return t.done }

// Closing reports whether Shutdown has begun.
func (t *Tracker) Closing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closing
}

// Serve accepts connections on l until l fails or Shutdown is called, when
// it returns Options.ErrClosed. A temporary accept error (such as running
// out of file descriptors) is retried after a growing pause, as net/http
// does, instead of spinning.
func (t *Tracker) Serve(l net.Listener) error {
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		return t.opts.ErrClosed
	}
	t.listeners[l] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.listeners, l)
		t.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if t.Closing() {
				return t.opts.ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		t.accept(conn)
	}
}

// accept starts conn's session, or refuses conn when the server is closing
// or full.
func (t *Tracker) accept(conn net.Conn) {
	ip := auth.AddrIP(conn.RemoteAddr())
	t.mu.Lock()
	var why Reason
	switch {
	case t.closing:
		why = Closing
	case t.counted >= t.opts.MaxConns:
		why = TooMany
	case t.perIP[ip] >= t.opts.MaxConnsPerIP && !t.exempt(ip):
		why = TooManyFromIP
	}
	if why == Closing {
		t.mu.Unlock()
		// Not in the WaitGroup: Shutdown may already be waiting on it.
		t.refuse(conn, why)
		return
	}
	if why != 0 {
		t.wg.Add(1)
		t.mu.Unlock()
		go func() {
			defer t.wg.Done()
			t.refuse(conn, why)
		}()
		return
	}
	sess := t.opts.NewSession(conn, ip)
	t.sessions[conn] = &entry{sess: sess, ip: ip}
	t.counted++
	t.perIP[ip]++
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		sess.Serve()
		// Close before the connection stops counting, so that the
		// limits never admit more open sockets than they say.
		conn.Close()
		t.mu.Lock()
		t.release(conn)
		delete(t.sessions, conn)
		t.mu.Unlock()
	}()
}

// exempt reports whether ip is in Options.PerIPExempt.
func (t *Tracker) exempt(ip netip.Addr) bool {
	for _, p := range t.opts.PerIPExempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Release stops conn from counting toward the connection limits while its
// session finishes. A session calls it just before its farewell (SMTP 221,
// POP3 +OK after QUIT, IMAP BYE): a client that has read the farewell and
// reconnects at once must not find its old connection still counted,
// which happened when the count dropped only after Serve returned — a
// load generator with MaxConnsPerIP sessions that reconnected was refused
// 421. Releasing twice, or a conn the Tracker does not know, is harmless;
// the Tracker releases every conn when its Serve returns.
func (t *Tracker) Release(conn net.Conn) {
	t.mu.Lock()
	t.release(conn)
	t.mu.Unlock()
}

// release is Release with t.mu held.
func (t *Tracker) release(conn net.Conn) {
	e := t.sessions[conn]
	if e == nil || e.released {
		return
	}
	e.released = true
	t.counted--
	if t.perIP[e.ip]--; t.perIP[e.ip] <= 0 {
		delete(t.perIP, e.ip)
	}
}

func (t *Tracker) refuse(conn net.Conn, why Reason) {
	if t.opts.Refuse != nil {
		conn.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
		t.opts.Refuse(conn, why)
	}
	conn.Close()
}

// Shutdown stops the listeners, interrupts every session and waits for the
// sessions (and refusals being written) to end. When ctx ends first, it
// cancels Context, closes the remaining connections, waits for their
// sessions to return and returns ctx's error.
func (t *Tracker) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	if !t.closing {
		t.closing = true
		close(t.done)
	}
	for l := range t.listeners {
		l.Close()
	}
	for _, e := range t.sessions {
		e.sess.Interrupt()
	}
	t.mu.Unlock()

	finished := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		t.cancel()
		return nil
	case <-ctx.Done():
	}
	t.cancel()
	t.mu.Lock()
	for conn := range t.sessions {
		conn.Close()
	}
	t.mu.Unlock()
	<-finished
	return ctx.Err()
}
