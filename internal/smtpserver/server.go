// Package smtpserver is pochta's SMTP server: the receiving MTA on port 25
// (RFC 5321) and the message submission agent on ports 587 (STARTTLS) and
// 465 (implicit TLS, RFC 8314) (RFC 6409). One Server type serves both,
// configured by a Mode. It implements EHLO with SIZE, 8BITMIME, PIPELINING,
// ENHANCEDSTATUSCODES, STARTTLS, CHUNKING, SMTPUTF8, DSN and (submission)
// AUTH PLAIN/LOGIN/SCRAM-SHA-256[-PLUS]; it checks recipients at RCPT time, refuses relaying,
// delivers local mail synchronously through LocalDelivery and hands remote
// mail to the Queue before it answers the end of data.
//
// The protocol layer is written here rather than on top of
// github.com/emersion/go-smtp (v0.25.1), whose server cannot meet pochta's
// requirements without forking it:
//   - it has one MaxLineLength for command lines and message lines alike, so
//     commands cannot be held to ~512 octets while DATA lines may reach
//     10,000, and an over-long DATA line aborts the connection instead of
//     refusing the message after reading it to its end;
//   - bare LF and bare CR in DATA and BDAT content are passed through to the
//     backend silently, so SMTP smuggling (CVE-2023-51766) defence would need
//     a second scan of every message;
//   - the bad-command threshold is a hard-coded constant (3) answered with
//     500, not a configurable MaxErrors answered with 421;
//   - there is one read timeout for everything, no separate DataTimeout;
//   - it has no limits on connections in total or per IP, and no hook to
//     answer 421 4.7.0 at the greeting;
//   - whether AUTH is offered is a server-wide flag (AllowInsecureAuth),
//     not a per-connection decision such as "loopback without TLS".
//
// Transaction outcome with DATA (one reply for all recipients): local
// recipients are delivered (durably) and remote ones queued before the
// reply. If every recipient failed, the reply is the first failure. If only
// some failed at delivery time, the reply is 250 and the failed recipients
// are handed to the Queue, which retries them and bounces them if they keep
// failing, so nothing is lost silently. If that hand-off is impossible, the
// reply is 451 4.3.0 and the client's retry may duplicate the message for
// the recipients that already had it — a duplicate rather than a loss.
package smtpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/conntrack"
	"pochta/internal/envelope"
	"pochta/internal/scram"
	"pochta/internal/store"
)

// Mode selects the role of a Server.
type Mode int

const (
	// ModeInbound is the MTA on port 25: mail for local domains, relaying
	// only for trusted networks and POP/IMAP-before-SMTP clients.
	ModeInbound Mode = iota
	// ModeSubmission is the MSA on ports 587/465: AUTH is required.
	ModeSubmission
)

func (m Mode) String() string {
	if m == ModeSubmission {
		return "submission"
	}
	return "inbound"
}

// LocalDelivery is local mail delivery (*mda.Deliverer).
type LocalDelivery interface {
	IsLocalDomain(ctx context.Context, domain string) (bool, error)
	CheckRecipient(ctx context.Context, addr string, size int64) error
	Deliver(ctx context.Context, env envelope.Envelope, content []byte) []error
	OwnsAddress(ctx context.Context, acct store.Account, addr string) (bool, error)
}

// Queue accepts mail for later delivery; Enqueue is durable on return.
type Queue interface {
	Enqueue(ctx context.Context, env envelope.Envelope, content []byte) (string, error)
}

// Authenticator checks logins (*auth.Authenticator).
type Authenticator interface {
	Login(ctx context.Context, user, pass string, remote netip.Addr) (store.Account, error)
	PlaintextAllowed(remote net.Addr, tlsActive bool) bool
	RecentLogin(ip netip.Addr) bool
	// SASLMechanisms lists the SCRAM mechanisms offered on a connection
	// with channel bindings b, best first; StartSASL begins one.
	SASLMechanisms(b scram.Bindings) []string
	StartSASL(mech string, b scram.Bindings, remote netip.Addr) (*auth.Exchange, error)
}

// Options configure a Server.
type Options struct {
	Hostname string
	Mode     Mode
	// TLSConfig enables STARTTLS (or, with ImplicitTLS, TLS from the start).
	TLSConfig   *tls.Config
	ImplicitTLS bool
	Local       LocalDelivery
	// Queue receives mail for remote recipients; nil refuses relaying.
	Queue Queue
	Auth  Authenticator
	// TrustedNetworks may relay without AUTH (inbound mode).
	TrustedNetworks []netip.Prefix
	// BeforeSMTP lets clients with a recent POP3/IMAP login relay.
	BeforeSMTP    bool
	EnforceSender bool
	Limits        config.Limits
	// Rates are the abuse limits (ratelimit.go); nil means none.
	Rates  *Rates
	Logger *slog.Logger

	// Checks judges mail from outside in inbound mode (nil: no checks,
	// but foreign Authentication-Results claiming Hostname are still
	// removed).
	Checks Checks

	// Spam judges inbound mail from outside (nil: no spam filter).
	Spam SpamFilter

	// OnTransaction learns each transaction's outcome at the end of DATA
	// ("accepted" or the refusing reply), OnRecipientRejected each
	// refused RCPT TO's reply: the metrics. Either may be nil.
	OnTransaction       func(result string)
	OnRecipientRejected func(reply string)
}

// Server is an SMTP server.
type Server struct {
	opts   Options
	limits config.Limits
	log    *slog.Logger
	conns  *conntrack.Tracker
	ctx    context.Context // cancelled when Shutdown gives up
}

// maxCommandLine bounds a command line including CRLF. RFC 5321
// §4.5.3.1.4 sets 512 octets and lets extensions raise it; DSN's ORCPT
// alone may carry 500 (RFC 3461), and an AUTH PLAIN initial response
// needs room too (RFC 4954 §4).
const maxCommandLine = 4096

// New returns a Server. Zero limits take pochta's defaults.
func New(opts Options) *Server {
	l := opts.Limits.WithDefaults()
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		opts: opts, limits: l, log: log.With("service", "smtp-"+opts.Mode.String()),
	}
	s.conns = conntrack.New(conntrack.Options{
		MaxConns:      l.MaxConnections,
		MaxConnsPerIP: l.MaxConnectionsPerIP,
		PerIPExempt:   l.PerIPExempt(),
		ErrClosed:     ErrServerClosed,
		NewSession: func(conn net.Conn, ip netip.Addr) conntrack.Session {
			return newSession(s, conn, ip)
		},
		Refuse: s.refuse,
	})
	s.ctx = s.conns.Context()
	return s
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("smtpserver: server closed")

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error { return s.conns.Serve(l) }

// refuse answers a connection turned away with 421: the server is closing
// or full (total or per IP).
func (s *Server) refuse(conn net.Conn, why conntrack.Reason) {
	text := "421 4.7.0 %s Too many connections, try again later\r\n"
	switch why {
	case conntrack.Closing:
		text = "421 4.3.2 %s Service shutting down\r\n"
	case conntrack.TooManyFromIP:
		text = "421 4.7.0 %s Too many connections from your address, try again later\r\n"
	}
	fmt.Fprintf(conn, text, s.opts.Hostname)
}

// Shutdown stops accepting connections, tells idle sessions (those waiting
// for a command) 421 and closes them, and waits for sessions busy with a
// command (a DATA transfer, a delivery) to finish it. When ctx ends first,
// the remaining connections are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error { return s.conns.Shutdown(ctx) }
