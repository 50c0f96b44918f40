package conntrack

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

var errClosed = errors.New("test: closed")

// testSession greets its client with "hi", then waits for a line. With
// block set it ignores Interrupt and waits until release is closed (a
// command in progress); otherwise Interrupt makes it say "bye" and end.
type testSession struct {
	conn    net.Conn
	block   bool
	release chan struct{}

	mu          sync.Mutex
	interrupted bool
	ended       chan struct{}
}

func (s *testSession) Serve() {
	defer close(s.ended)
	if _, err := s.conn.Write([]byte("hi\r\n")); err != nil {
		return
	}
	if s.block {
		// Only release or the connection being closed under the
		// session (the client sends nothing) ends it.
		closed := make(chan struct{})
		go func() {
			s.conn.Read(make([]byte, 1))
			close(closed)
		}()
		select {
		case <-s.release:
		case <-closed:
		}
		return
	}
	line, err := bufio.NewReader(s.conn).ReadString('\n')
	s.mu.Lock()
	interrupted := s.interrupted
	s.mu.Unlock()
	if err != nil && interrupted {
		s.conn.Write([]byte("bye\r\n"))
		return
	}
	if err == nil {
		s.conn.Write([]byte("echo " + line))
	}
}

func (s *testSession) Interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interrupted = true
	if !s.block {
		s.conn.SetReadDeadline(time.Now())
	}
}

type harness struct {
	t        *testing.T
	tr       *Tracker
	addr     string
	serveErr chan error
	block    bool
	release  chan struct{}

	mu       sync.Mutex
	sessions []*testSession
	refused  []Reason
}

func newHarness(t *testing.T, maxConns, maxPerIP int, block bool, exempt ...netip.Prefix) *harness {
	t.Helper()
	h := &harness{t: t, block: block, release: make(chan struct{}), serveErr: make(chan error, 1)}
	h.tr = New(Options{
		MaxConns: maxConns, MaxConnsPerIP: maxPerIP, ErrClosed: errClosed, PerIPExempt: exempt,
		NewSession: func(conn net.Conn, ip netip.Addr) Session {
			if !ip.IsLoopback() {
				t.Errorf("session ip = %v, want loopback", ip)
			}
			s := &testSession{conn: conn, block: h.block, release: h.release, ended: make(chan struct{})}
			h.mu.Lock()
			h.sessions = append(h.sessions, s)
			h.mu.Unlock()
			return s
		},
		Refuse: func(conn net.Conn, why Reason) {
			h.mu.Lock()
			h.refused = append(h.refused, why)
			h.mu.Unlock()
			conn.Write([]byte("no " + why.String() + "\r\n"))
		},
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = l.Addr().String()
	go func() { h.serveErr <- h.tr.Serve(l) }()
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.tr.Shutdown(ctx)
	})
	return h
}

// dial connects from local address from (e.g. "127.0.0.2", or "" for any)
// and returns the connection with its first line.
func (h *harness) dial(from string) (net.Conn, *bufio.Reader, string) {
	h.t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil && err.Error() != "EOF" {
		h.t.Fatalf("reading first line: %v", err)
	}
	return c, br, strings.TrimSpace(line)
}

func (h *harness) refusals() []Reason {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Reason(nil), h.refused...)
}

func TestTotalLimit(t *testing.T) {
	h := newHarness(t, 2, 10, false)
	c1, br1, g1 := h.dial("")
	_, _, g2 := h.dial("")
	if g1 != "hi" || g2 != "hi" {
		t.Fatalf("greetings %q %q, want hi", g1, g2)
	}
	c3, br3, g3 := h.dial("")
	if g3 != "no too many connections" {
		t.Fatalf("third connection got %q, want the TooMany refusal", g3)
	}
	if _, err := br3.ReadString('\n'); err == nil {
		t.Fatal("refused connection still open")
	}
	c3.Close()
	if r := h.refusals(); len(r) != 1 || r[0] != TooMany {
		t.Fatalf("refusals %v, want [TooMany]", r)
	}
	// Ending a session frees its place.
	c1.Write([]byte("x\r\n"))
	if line, _ := br1.ReadString('\n'); line != "echo x\r\n" {
		t.Fatalf("echo = %q", line)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, g := h.dial("")
		if g == "hi" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("place not freed after a session ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPerIPLimit(t *testing.T) {
	h := newHarness(t, 10, 1, false)
	if _, _, g := h.dial("127.0.0.1"); g != "hi" {
		t.Fatalf("first connection got %q", g)
	}
	if _, _, g := h.dial("127.0.0.1"); g != "no too many connections from one address" {
		t.Fatalf("second connection from 127.0.0.1 got %q, want the TooManyFromIP refusal", g)
	}
	// Another address still gets in.
	if _, _, g := h.dial("127.0.0.2"); g != "hi" {
		t.Fatalf("connection from 127.0.0.2 got %q", g)
	}
	if r := h.refusals(); len(r) != 1 || r[0] != TooManyFromIP {
		t.Fatalf("refusals %v, want [TooManyFromIP]", r)
	}
}

func TestShutdownInterruptsIdleSessions(t *testing.T) {
	h := newHarness(t, 10, 10, false)
	_, br, _ := h.dial("")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	if line, _ := br.ReadString('\n'); line != "bye\r\n" {
		t.Fatalf("idle client got %q, want bye", line)
	}
	if err := <-h.serveErr; err != errClosed {
		t.Fatalf("Serve = %v, want ErrClosed", err)
	}
	if h.tr.Context().Err() == nil {
		t.Fatal("Context not cancelled after Shutdown")
	}
	select {
	case <-h.tr.Done():
	default:
		t.Fatal("Done not closed after Shutdown")
	}
}

func TestShutdownWaitsForWorkInProgress(t *testing.T) {
	h := newHarness(t, 10, 10, true)
	_, br, _ := h.dial("")
	shut := make(chan error, 1)
	go func() { shut <- h.tr.Shutdown(context.Background()) }()
	// Serve ends once the listener is closed; the session still runs.
	if err := <-h.serveErr; err != errClosed {
		t.Fatalf("Serve = %v, want ErrClosed", err)
	}
	if !h.tr.Closing() {
		t.Fatal("Closing false during Shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a session was busy", err)
	case <-time.After(100 * time.Millisecond):
	}
	h.mu.Lock()
	s := h.sessions[0]
	h.mu.Unlock()
	s.mu.Lock()
	interrupted := s.interrupted
	s.mu.Unlock()
	if !interrupted {
		t.Fatal("Interrupt not called")
	}
	close(h.release)
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the session ended")
	}
	<-s.ended
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("connection not closed after the session ended")
	}
}

func TestShutdownForceClosesWhenContextEnds(t *testing.T) {
	h := newHarness(t, 10, 10, true)
	_, br, _ := h.dial("")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := h.tr.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	if h.tr.Context().Err() == nil {
		t.Fatal("Context not cancelled when Shutdown gave up")
	}
	h.mu.Lock()
	s := h.sessions[0]
	h.mu.Unlock()
	select {
	case <-s.ended:
	default:
		t.Fatal("Shutdown returned before the force-closed session ended")
	}
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("connection still open after forced close")
	}
}

func TestServeAfterShutdown(t *testing.T) {
	h := newHarness(t, 10, 10, false)
	if err := h.tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := h.tr.Serve(l); err != errClosed {
		t.Fatalf("Serve after Shutdown = %v, want ErrClosed", err)
	}
	if err := h.tr.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
}

// timeoutListener fails its first n Accepts with a temporary (timeout)
// error, as accept does when the process runs out of file descriptors.
type timeoutListener struct {
	net.Listener
	mu sync.Mutex
	n  int
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "accept: too many open files" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func (l *timeoutListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	fail := l.n > 0
	if fail {
		l.n--
	}
	l.mu.Unlock()
	if fail {
		return nil, timeoutError{}
	}
	return l.Listener.Accept()
}

func TestServeRetriesTemporaryErrors(t *testing.T) {
	tr := New(Options{
		MaxConns: 10, MaxConnsPerIP: 10, ErrClosed: errClosed,
		NewSession: func(conn net.Conn, _ netip.Addr) Session {
			return &testSession{conn: conn, release: make(chan struct{}), ended: make(chan struct{})}
		},
	})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- tr.Serve(&timeoutListener{Listener: inner, n: 3}) }()
	c, err := net.DialTimeout("tcp", inner.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(c).ReadString('\n'); line != "hi\r\n" {
		t.Fatalf("after temporary errors got %q, %v", line, err)
	}
	// A permanent error (the listener closed behind the server's back)
	// ends Serve with that error, not ErrClosed.
	inner.Close()
	select {
	case err := <-serveErr:
		if err == nil || err == errClosed {
			t.Fatalf("Serve = %v, want the accept error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its listener failed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
