// Package managesieve is the ManageSieve server (RFC 5804): users upload,
// check, list, activate, download, rename and delete their Sieve scripts
// from a mail client (Thunderbird's sieve add-on, Roundcube's managesieve
// plugin, sieve-connect). Scripts are checked with internal/sieve before
// they are stored, and errors are reported with their line and column.
// Authentication is SASL PLAIN (RFC 4616) through internal/auth, like
// IMAP: over TLS (STARTTLS), or in plaintext from loopback when the auth
// policy allows it. The server is shaped like net/http's: New, Serve(l),
// Shutdown(ctx), with connection limits from internal/conntrack.
package managesieve

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"pochta/internal/auth"
	"pochta/internal/conntrack"
	"pochta/internal/sieve"
	"pochta/internal/store"
)

// Authenticator checks passwords; *auth.Authenticator implements it.
type Authenticator interface {
	Login(ctx context.Context, user, pass string, remote netip.Addr) (store.Account, error)
	PlaintextAllowed(remote net.Addr, tlsActive bool) bool
}

var _ Authenticator = (*auth.Authenticator)(nil)

// Options configure a Server.
type Options struct {
	Hostname  string
	TLSConfig *tls.Config // enables STARTTLS
	Store     store.SieveStore
	Auth      Authenticator
	// IdleTimeout closes a session that sends nothing for this long
	// (0 = 10 minutes).
	IdleTimeout time.Duration
	// MaxConnections and MaxConnectionsPerIP bound sessions (0 = 200, 20).
	MaxConnections, MaxConnectionsPerIP int
	PerIPExempt                         []netip.Prefix
	// MaxScripts is how many scripts an account may keep (0 = 20).
	MaxScripts int
	// MaxErrors is how many bad commands or failed logins a session may
	// make before it is closed (0 = 10).
	MaxErrors int
	Logger    *slog.Logger
	// Revoker ends the sessions of an account whose access is revoked
	// (revoke.go); nil: sessions last until they end on their own.
	Revoker Revoker
}

// Server is a ManageSieve server.
type Server struct {
	opts  Options
	log   *slog.Logger
	conns *conntrack.Tracker
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("managesieve: server closed")

// New returns a Server with opts, filling in defaults.
func New(opts Options) *Server {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 200
	}
	if opts.MaxConnectionsPerIP <= 0 {
		opts.MaxConnectionsPerIP = 20
	}
	if opts.MaxScripts <= 0 {
		opts.MaxScripts = 20
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
	s := &Server{opts: opts, log: log}
	s.conns = conntrack.New(conntrack.Options{
		MaxConns:      opts.MaxConnections,
		MaxConnsPerIP: opts.MaxConnectionsPerIP,
		PerIPExempt:   opts.PerIPExempt,
		ErrClosed:     ErrServerClosed,
		NewSession: func(conn net.Conn, ip netip.Addr) conntrack.Session {
			return newSession(s, conn, ip)
		},
		Refuse: func(conn net.Conn, why conntrack.Reason) {
			if why != conntrack.Closing {
				s.log.Warn("managesieve connection refused", "remote", conn.RemoteAddr().String(), "why", why.String())
				conn.Write([]byte("BYE (TRYLATER) \"Too many connections, try again later\"\r\n"))
			}
		},
	})
	return s
}

// Serve accepts connections on l until Shutdown; it returns ErrServerClosed.
func (s *Server) Serve(l net.Listener) error { return s.conns.Serve(l) }

// Shutdown stops accepting, tells idle sessions goodbye and waits for the
// others until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.conns.Shutdown(ctx) }

// maxScriptSize is what PUTSCRIPT and HAVESPACE accept.
const maxScriptSize = sieve.MaxScriptSize
