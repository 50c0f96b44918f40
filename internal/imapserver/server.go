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
	"pochta/internal/conntrack"
	"pochta/internal/scram"
	"pochta/internal/store"
)

// Authenticator checks passwords; *auth.Authenticator implements it.
type Authenticator interface {
	// Login verifies user and password; it slows down repeated failures.
	Login(ctx context.Context, user, pass string, remote netip.Addr) (store.Account, error)
	// PlaintextAllowed reports whether a password may be sent on a
	// connection from remote with or without TLS.
	PlaintextAllowed(remote net.Addr, tlsActive bool) bool
	// SASLMechanisms lists the SCRAM mechanisms offered on a connection
	// with channel bindings b, best first; StartSASL begins one.
	SASLMechanisms(b scram.Bindings) []string
	StartSASL(mech string, b scram.Bindings, remote netip.Addr) (*auth.Exchange, error)
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

	// Revoker ends the sessions of an account whose access is revoked
	// (revoke.go); nil: sessions last until they end on their own.
	Revoker Revoker

	// Trainer learns spam from the user moving mail into and out of Junk
	// and setting $Junk/$NotJunk (training.go); nil disables it.
	Trainer Trainer
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

	// conns accepts, limits and tracks connections; sessions ask it
	// whether Shutdown has begun (Closing, or Done in IDLE).
	conns    *conntrack.Tracker
	uidCache uidCache
	// compressed counts sessions with COMPRESS=DEFLATE active.
	compressed atomic.Int64
	// unauthTimeout bounds how long a connection may stay unauthenticated
	// between commands.
	unauthTimeout time.Duration
	// readers and writers pool the sessions' buffers, which a session
	// holds only while it reads a command or writes responses.
	readers, writers *sync.Pool
}

// New returns a Server; zero limits get safe defaults.
func New(opts Options) *Server {
	opts.Limits = opts.Limits.WithDefaults()
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts: opts, log: log.With("service", "imap"),

		unauthTimeout: defaultUnauthTimeout,
	}
	s.readers, s.writers = newBufPools()
	s.conns = conntrack.New(conntrack.Options{
		MaxConns:      opts.Limits.MaxConnections,
		MaxConnsPerIP: opts.Limits.MaxConnectionsPerIP,
		PerIPExempt:   opts.Limits.PerIPExempt(),
		ErrClosed:     ErrServerClosed,
		NewSession: func(c net.Conn, _ netip.Addr) conntrack.Session {
			return &conn{srv: s, raw: c}
		},
		Refuse: refuse,
	})
	return s
}

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error { return s.conns.Serve(l) }

// refuse turns a connection away: silently while shutting down, otherwise
// with BYE (in plain text, even on an implicit-TLS port).
func refuse(c net.Conn, why conntrack.Reason) {
	if why != conntrack.Closing {
		c.Write([]byte("* BYE [UNAVAILABLE] Too many connections\r\n"))
	}
}

// closing reports whether Shutdown has begun. It takes the Tracker's
// lock, which Shutdown holds while it interrupts idle sessions, so a
// session that marks itself waiting and then finds closing false is sure
// to be woken.
func (s *Server) closing() bool { return s.conns.Closing() }

// conn is an admitted connection; its session starts after the
// implicit-TLS handshake, if any.
type conn struct {
	srv  *Server
	raw  net.Conn
	sess atomic.Pointer[session]
}

// Interrupt wakes the session if it is waiting for a command
// (conntrack.Session).
func (c *conn) Interrupt() {
	if sess := c.sess.Load(); sess != nil {
		sess.interruptIfIdle()
	}
}

// Serve runs the connection (conntrack.Session).
func (c *conn) Serve() {
	s := c.srv
	nc, tlsActive := c.raw, false
	if s.opts.ImplicitTLS && s.opts.TLSConfig != nil {
		tc := tls.Server(nc, s.opts.TLSConfig)
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		var err error
		onFreshStack(func() { err = tc.Handshake() })
		if err != nil {
			s.log.Debug("tls handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
			nc.Close()
			return
		}
		nc.SetDeadline(time.Time{})
		nc, tlsActive = tc, true
	}
	sess := newSession(s, nc, tlsActive)
	c.sess.Store(sess)
	if s.closing() {
		nc.Close()
		return
	}
	sess.serve()
}

// Shutdown stops accepting connections, tells idle clients BYE, waits for
// commands in progress to finish until ctx ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error { return s.conns.Shutdown(ctx) }
