package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/store"
)

// Authenticator checks passwords; *auth.Authenticator implements it.
type Authenticator interface {
	// Login verifies user and password; it slows down repeated failures.
	Login(ctx context.Context, user, pass string, remote netip.Addr) (store.Account, error)
	// PlaintextAllowed reports whether a password may be sent on a
	// connection from remote with or without TLS.
	PlaintextAllowed(remote net.Addr, tlsActive bool) bool
}

var _ Authenticator = (*auth.Authenticator)(nil)

// Options configure a Server.
type Options struct {
	Hostname string
	// TLSConfig enables STARTTLS (or, with ImplicitTLS, TLS from the first
	// byte, as on port 993). Nil disables TLS.
	TLSConfig   *tls.Config
	ImplicitTLS bool
	Store       store.Store
	Auth        Authenticator
	Limits      config.Limits
	Logger      *slog.Logger
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("imapserver: server closed")

// defaultUnauthTimeout bounds how long a connection may stay
// unauthenticated between commands.
const defaultUnauthTimeout = 60 * time.Second

// Server is an IMAP server.
type Server struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perIP     map[netip.Addr]int
	closing   atomic.Bool
	done      chan struct{}
	wg        sync.WaitGroup
	uidCache  uidCache
	// compressed counts sessions with COMPRESS=DEFLATE active.
	compressed atomic.Int64
	// unauthTimeout bounds how long a connection may stay unauthenticated
	// between commands.
	unauthTimeout time.Duration
}

// New returns a Server; zero limits get safe defaults.
func New(opts Options) *Server {
	d := config.Default().Limits
	l := &opts.Limits
	if l.MaxConnections <= 0 {
		l.MaxConnections = d.MaxConnections
	}
	if l.MaxConnectionsPerIP <= 0 {
		l.MaxConnectionsPerIP = d.MaxConnectionsPerIP
	}
	if l.CommandTimeout.Duration <= 0 {
		l.CommandTimeout = d.CommandTimeout
	}
	if l.MaxErrors <= 0 {
		l.MaxErrors = d.MaxErrors
	}
	if l.IMAPIdleTimeout.Duration <= 0 {
		l.IMAPIdleTimeout = d.IMAPIdleTimeout
	}
	if l.IMAPLiteralSize <= 0 {
		l.IMAPLiteralSize = d.IMAPLiteralSize
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		opts: opts, log: log.With("service", "imap"),
		listeners: map[net.Listener]struct{}{},
		sessions:  map[*session]struct{}{},
		perIP:     map[netip.Addr]int{},
		done:      make(chan struct{}),

		unauthTimeout: defaultUnauthTimeout,
	}
}

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
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
	backoff := 5 * time.Millisecond
	for {
		c, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(backoff)
				backoff = min(2*backoff, time.Second)
				continue
			}
			return err
		}
		backoff = 5 * time.Millisecond
		ip := auth.AddrIP(c.RemoteAddr())
		if !s.admit(ip) {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("* BYE [UNAVAILABLE] Too many connections\r\n"))
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.release(ip)
			s.serveConn(c)
		}()
	}
}

func (s *Server) admit(ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for _, n := range s.perIP {
		total += n
	}
	if total >= s.opts.Limits.MaxConnections || s.perIP[ip] >= s.opts.Limits.MaxConnectionsPerIP {
		return false
	}
	s.perIP[ip]++
	return true
}

func (s *Server) release(ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

func (s *Server) serveConn(c net.Conn) {
	tlsActive := false
	if s.opts.ImplicitTLS && s.opts.TLSConfig != nil {
		tc := tls.Server(c, s.opts.TLSConfig)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			s.log.Debug("tls handshake failed", "remote", c.RemoteAddr().String(), "err", err)
			c.Close()
			return
		}
		c.SetDeadline(time.Time{})
		c, tlsActive = tc, true
	}
	sess := newSession(s, c, tlsActive)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
	}()
	sess.serve()
}

// Shutdown stops accepting connections, tells idle clients BYE, waits for
// commands in progress to finish until ctx ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing.Swap(true) {
		close(s.done)
	}
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for sess := range s.sessions {
			sess.interruptIfIdle()
		}
		s.mu.Unlock()
		select {
		case <-finished:
			return nil
		case <-ctx.Done():
			s.mu.Lock()
			for sess := range s.sessions {
				sess.raw.Close()
			}
			s.mu.Unlock()
			<-finished
			return ctx.Err()
		case <-tick.C:
		}
	}
}
