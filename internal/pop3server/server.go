// Package pop3server is the POP3 server (RFC 1939) with the extensions
// mail clients expect: CAPA and response codes (RFC 2449), STLS (RFC 2595),
// SASL PLAIN and SCRAM-SHA-256[-PLUS] authentication (RFC 5034, RFC 4616,
// RFC 5802, RFC 7677), UIDL and TOP. It serves
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
	"pochta/internal/conntrack"
	"pochta/internal/scram"
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
	// SASLMechanisms lists the SCRAM mechanisms offered on a connection
	// with channel bindings b, best first; StartSASL begins one.
	SASLMechanisms(b scram.Bindings) []string
	StartSASL(mech string, b scram.Bindings, remote netip.Addr) (*auth.Exchange, error)
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
	// PerIPExempt are networks not held to MaxConnectionsPerIP.
	PerIPExempt []netip.Prefix
	// MaxErrors is how many bad commands or failed logins a session may
	// make before it is closed (0 = 10).
	MaxErrors int
	// LockMailbox allows only one session per account at a time; a
	// second login gets "-ERR [IN-USE]" (RFC 2449 §8.1.1).
	LockMailbox bool
	// Logger receives login, logout and error lines (nil = discard).
	Logger *slog.Logger
	// Revoker ends the sessions of an account whose access is revoked
	// (revoke.go); nil: sessions last until they end on their own.
	Revoker Revoker
}

// Server is a POP3 server. Build it with New; it serves any number of
// listeners.
type Server struct {
	opts Options
	log  *slog.Logger

	// conns accepts, limits and tracks connections; its Context is the
	// parent of every session context, cancelled when Shutdown gives up.
	conns *conntrack.Tracker

	mu     sync.Mutex
	locked map[int64]bool // account IDs with a session (LockMailbox)

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
	s := &Server{
		opts: opts, log: log,
		locked: map[int64]bool{},
		sizes:  map[sizeKey]int64{},
	}
	s.conns = conntrack.New(conntrack.Options{
		MaxConns:      opts.MaxConnections,
		MaxConnsPerIP: opts.MaxConnectionsPerIP,
		PerIPExempt:   opts.PerIPExempt,
		ErrClosed:     ErrServerClosed,
		NewSession: func(conn net.Conn, ip netip.Addr) conntrack.Session {
			return newSession(s, conn, ip)
		},
		Refuse: s.refuse,
	})
	return s
}

// Serve accepts connections on l until l fails or Shutdown is called; it
// then returns ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	if s.opts.ImplicitTLS && s.opts.TLSConfig == nil {
		return errors.New("pop3server: ImplicitTLS without TLSConfig")
	}
	return s.conns.Serve(l)
}

// refuse turns a connection away: silently while shutting down, otherwise
// with "too many connections".
func (s *Server) refuse(conn net.Conn, why conntrack.Reason) {
	if why == conntrack.Closing {
		return
	}
	s.log.Warn("pop3 connection refused: too many connections", "remote", conn.RemoteAddr().String())
	// Plain text even on pop3s: a TLS handshake is more work than an
	// overloaded server should do for a refusal.
	if !s.opts.ImplicitTLS {
		conn.Write([]byte("-ERR [SYS/TEMP] Too many connections, try again later\r\n"))
	}
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

func (s *Server) isClosing() bool { return s.conns.Closing() }

// Shutdown stops accepting connections, tells sessions waiting for a
// command that the server is going away (they end without the UPDATE
// state, so nothing is deleted), lets commands in progress finish, and
// waits for every session to end until ctx is done; then it closes the
// remaining connections.
func (s *Server) Shutdown(ctx context.Context) error { return s.conns.Shutdown(ctx) }
