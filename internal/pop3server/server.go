// Package pop3server is the POP3 server (RFC 1939) with the extensions
// mail clients expect: CAPA and response codes (RFC 2449), STLS (RFC 2595),
// SASL PLAIN authentication (RFC 5034, RFC 4616), UIDL and TOP. It serves
// each account's INBOX from a store.Mailstore.
//
// Session semantics follow RFC 1939 exactly: message numbers are fixed at
// login (a snapshot of the INBOX UIDs), DELE only marks, and marked
// messages are removed only when the client says QUIT (the UPDATE state).
// A dropped connection, a timeout or a server shutdown removes nothing.
// Only the messages this session marked are expunged; messages flagged
// \Deleted through IMAP are left for IMAP to expunge. RETR marks a message
// \Seen, as Dovecot does.
//
// Concurrent sessions for one mailbox are allowed by default, as in
// Dovecot: a message removed by another session makes RETR/TOP answer
// -ERR for it, and QUIT removes what is still there. Options.LockMailbox
// refuses a second session with the RFC 2449 [IN-USE] response code
// instead.
package pop3server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"pochta/internal/auth"
	"pochta/internal/store"
)

// Authenticator checks passwords; *auth.Authenticator implements it.
type Authenticator interface {
	// Login verifies user and password for a client at remote. It returns
	// auth.ErrInvalid for wrong credentials (after a delay that grows with
	// repeated failures) and other errors for temporary failures.
	Login(ctx context.Context, user, pass string, remote netip.Addr) (store.Account, error)
	// PlaintextAllowed reports whether a password may be sent on this
	// connection.
	PlaintextAllowed(remote net.Addr, tlsActive bool) bool
}

var _ Authenticator = (*auth.Authenticator)(nil)

// Options configure a Server.
type Options struct {
	// Hostname is shown in the greeting.
	Hostname string
	// TLSConfig enables STLS (and is required for ImplicitTLS).
	TLSConfig *tls.Config
	// ImplicitTLS starts TLS on connect (pop3s, port 995, RFC 8314).
	ImplicitTLS bool
	Store       store.Mailstore
	Auth        Authenticator
	// IdleTimeout closes a session that sends no command for this long
	// without entering the UPDATE state. RFC 1939 §3 asks for at least
	// ten minutes; 0 means ten minutes.
	IdleTimeout time.Duration
	// MaxConnections and MaxConnectionsPerIP bound concurrent sessions
	// (0 = 1000 and 50).
	MaxConnections, MaxConnectionsPerIP int
	// MaxErrors is how many bad commands or failed logins a session may
	// make before it is closed (0 = 10).
	MaxErrors int
	// LockMailbox allows only one session per account at a time; a
	// second login gets "-ERR [IN-USE]" (RFC 2449 §8.1.1).
	LockMailbox bool
	// Logger receives login, logout and error lines (nil = discard).
	Logger *slog.Logger
}

// Server is a POP3 server. Build it with New; it serves any number of
// listeners.
type Server struct {
	opts Options
	log  *slog.Logger

	// ctx is the parent of every session context; cancel aborts work in
	// progress when Shutdown gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perIP     map[netip.Addr]int
	locked    map[int64]bool // account IDs with a session (LockMailbox)
	wg        sync.WaitGroup

	sizeMu sync.Mutex
	sizes  map[sizeKey]int64 // exact POP3 sizes, see session.exactSize
}

// sizeKey names a message's immutable content.
type sizeKey struct {
	mailboxID   int64
	uidValidity uint32
	uid         uint32
}

// maxCachedSizes bounds the size cache (about 40 MB when full); it is
// simply emptied when full.
const maxCachedSizes = 1 << 20

func (s *Server) cachedSize(k sizeKey) (int64, bool) {
	s.sizeMu.Lock()
	defer s.sizeMu.Unlock()
	n, ok := s.sizes[k]
	return n, ok
}

func (s *Server) storeSize(k sizeKey, n int64) {
	s.sizeMu.Lock()
	defer s.sizeMu.Unlock()
	if len(s.sizes) >= maxCachedSizes {
		clear(s.sizes)
	}
	s.sizes[k] = n
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("pop3server: server closed")

// New returns a Server with opts, filling in defaults.
func New(opts Options) *Server {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 1000
	}
	if opts.MaxConnectionsPerIP <= 0 {
		opts.MaxConnectionsPerIP = 50
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = 10
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts: opts, log: log, ctx: ctx, cancel: cancel,
		listeners: map[net.Listener]struct{}{},
		sessions:  map[*session]struct{}{},
		perIP:     map[netip.Addr]int{},
		locked:    map[int64]bool{},
		sizes:     map[sizeKey]int64{},
	}
}

// Serve accepts connections on l until l fails or Shutdown is called; it
// then returns ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	if s.opts.ImplicitTLS && s.opts.TLSConfig == nil {
		return errors.New("pop3server: ImplicitTLS without TLSConfig")
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Temporary failure (e.g. out of file descriptors):
				// back off like net/http instead of spinning.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.accept(conn)
	}
}

// accept registers conn and starts its session, or turns it away when a
// connection limit is reached.
func (s *Server) accept(conn net.Conn) {
	ip := auth.AddrIP(conn.RemoteAddr())
	s.mu.Lock()
	switch {
	case s.closing:
		s.mu.Unlock()
		conn.Close()
		return
	case len(s.sessions) >= s.opts.MaxConnections || s.perIP[ip] >= s.opts.MaxConnectionsPerIP:
		s.mu.Unlock()
		s.log.Warn("pop3 connection refused: too many connections", "remote", conn.RemoteAddr().String())
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			// Plain text even on pop3s: a TLS handshake is more work
			// than an overloaded server should do for a refusal.
			if !s.opts.ImplicitTLS {
				conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				conn.Write([]byte("-ERR [SYS/TEMP] Too many connections, try again later\r\n"))
			}
			conn.Close()
		}()
		return
	}
	sess := newSession(s, conn, ip)
	s.sessions[sess] = struct{}{}
	s.perIP[ip]++
	s.wg.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		sess.serve()
		s.mu.Lock()
		delete(s.sessions, sess)
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
		s.mu.Unlock()
	}()
}

// lockAccount marks an account as having a session (LockMailbox).
func (s *Server) lockAccount(id int64) bool {
	if !s.opts.LockMailbox {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked[id] {
		return false
	}
	s.locked[id] = true
	return true
}

func (s *Server) unlockAccount(id int64) {
	if !s.opts.LockMailbox {
		return
	}
	s.mu.Lock()
	delete(s.locked, id)
	s.mu.Unlock()
}

// armRead sets the idle deadline for reading the next command, unless the
// server is shutting down; under the server lock, so that Shutdown's
// wake-up cannot be overwritten by a later deadline.
func (s *Server) armRead(conn net.Conn, d time.Duration) (closing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return true
	}
	conn.SetReadDeadline(time.Now().Add(d))
	return false
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Shutdown stops accepting connections, tells sessions waiting for a
// command that the server is going away (they end without the UPDATE
// state, so nothing is deleted), lets commands in progress finish, and
// waits for every session to end until ctx is done; then it closes the
// remaining connections.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	for sess := range s.sessions {
		// Wakes a session blocked reading its next command; one in the
		// middle of a command re-checks closing before reading again.
		sess.rawConn.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for sess := range s.sessions {
		sess.rawConn.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}
