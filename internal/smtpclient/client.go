// Package smtpclient delivers mail to other mail servers: it finds the
// destination's mail exchangers (RFC 5321 §5.1, RFC 7505 null MX), connects
// to them in order, upgrades to TLS when offered (RFC 3207), and runs one
// SMTP transaction reporting a result per recipient. It can instead relay
// through a smarthost, globally or per destination domain, optionally
// authenticating with AUTH PLAIN (RFC 4954).
//
// The SMTP dialogue is written here rather than with emersion/go-smtp's
// client: that client does not pipeline (RFC 2920), cannot send BDAT
// (RFC 3030), takes no context, adds BODY=8BITMIME whenever offered and
// collapses replies into an error type without a per-recipient view of
// pipelined RCPT replies. Delivery needs all of that, and exact remote
// replies for bounces, so this package speaks the protocol itself with
// bounded reply parsing (ReadReply, fuzzed).
package smtpclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"pochta/internal/config"
	"pochta/internal/dns"
	"pochta/internal/envelope"
	"pochta/internal/reply"
	"pochta/internal/tlsrpt"
)

// Bounds on one delivery.
const (
	maxHosts    = 16 // MX hosts considered
	maxAttempts = 24 // connections opened, over all hosts and addresses
)

// Options configure a Client.
type Options struct {
	// Hostname is the name sent in EHLO.
	Hostname string
	// Resolver finds MX and address records.
	Resolver *dns.Resolver
	// Port is the TCP port of remote mail servers (default 25).
	Port int
	// ConnectTimeout bounds one TCP connect (default 30s).
	ConnectTimeout time.Duration
	// CommandTimeout bounds the wait for each reply (default 5 minutes,
	// RFC 5321 §4.5.3.2); the reply to the end of data may take twice
	// as long.
	CommandTimeout time.Duration
	// RequireTLS refuses to send a message over a connection without TLS.
	RequireTLS bool
	// VerifyTLS checks the server certificate against RootCAs (or the
	// system roots) and the host name. When TLS is used and verification
	// fails the message is not sent over that connection; without
	// VerifyTLS a failed handshake falls back to plain text (unless
	// RequireTLS), as opportunistic TLS (RFC 7435) does.
	VerifyTLS bool
	// RootCAs verifies certificates when VerifyTLS is set (nil = system).
	RootCAs *x509.CertPool
	// LocalAddr is the source address of outbound connections (invalid =
	// any); it is used only for destinations of the same family.
	LocalAddr netip.Addr
	// Smarthost, when set, receives all mail instead of the MX hosts.
	Smarthost *config.Smarthost
	// Transports route single destination domains to a relay; they take
	// precedence over Smarthost.
	Transports map[string]config.Smarthost
	// Logger receives one line per connection attempt (nil = discard).
	Logger *slog.Logger
	// MTASTS finds recipient domains' MTA-STS policies (nil = ignore them).
	MTASTS PolicyFinder
	// DANE honours DNSSEC-authenticated TLSA records of MX hosts
	// (RFC 7672); the Resolver must use a validating server.
	DANE bool
	// OnTLSSession, when set, is told of each session's TLS outcome
	// under the recipient domain's policy (RFC 8460 reporting): each
	// failure, and each connection whose TLS met the policy.
	OnTLSSession func(tlsrpt.Session)
	// OnTLSFailure, when set, is told of each TLS policy failure.
	OnTLSFailure func(TLSFailure)
	// ReuseLimit is how many messages one connection may carry (reuse.go);
	// 0 or 1 means a new connection per message. ReuseIdle is how long an
	// idle connection is kept for the next message (2 seconds).
	ReuseLimit int
	ReuseIdle  time.Duration
}

// Client delivers messages. It is safe for concurrent use.
type Client struct {
	opts  Options
	log   *slog.Logger
	cache *connCache // idle sessions kept for reuse; nil when off
}

// New returns a Client with defaults filled in.
func New(opts Options) *Client {
	if opts.Port == 0 {
		opts.Port = 25
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 30 * time.Second
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 5 * time.Minute
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.Resolver == nil {
		opts.Resolver = dns.New(nil, 0)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Client{opts: opts, log: log, cache: newConnCache(opts.ReuseLimit, opts.ReuseIdle)}
}

// Result replies that are not the remote server's.
var (
	errNoDomain   = &reply.Error{Code: 550, Enhanced: "5.1.2", Text: "Destination domain does not exist"}
	errNullMX     = &reply.Error{Code: 556, Enhanced: "5.1.10", Text: "Destination domain does not accept mail (null MX)"}
	errNoAddress  = &reply.Error{Code: 550, Enhanced: "5.4.4", Text: "No address found for the destination's mail servers"}
	errDNSTemp    = &reply.Error{Code: 451, Enhanced: "4.4.3", Text: "DNS lookup failed temporarily"}
	errNoUTF8     = &reply.Error{Code: 550, Enhanced: "5.6.7", Text: "Destination server does not support SMTPUTF8, required by this message"}
	errInterupted = &reply.Error{Code: 451, Enhanced: "4.4.2", Text: "Delivery interrupted"}
)

// target is one host to connect to.
type target struct {
	name  string // host name (no trailing dot) or IP literal
	port  int
	relay *config.Smarthost // non-nil for a smarthost
	tls   string            // relay TLS mode: "starttls", "tls", "none"
	sts   *stsState         // MTA-STS policy of the recipient domain, if any
	// domain is the recipient domain; dane its MX host's authenticated
	// TLSA records, when DANE applies (RFC 7672).
	domain string
	dane   *daneState
	// mxSecure: the host name came from a DNSSEC-authenticated MX answer
	// (or is the domain itself); otherwise DANE does not apply to it.
	mxSecure bool
	// requireTLS: the message has REQUIRETLS; noPolicy: it has
	// "TLS-Required: No" (RFC 8689 §5), so MTA-STS and DANE are ignored.
	requireTLS, noPolicy bool
	// sess is the TLS reporting state of the current connection.
	sess *session
}

// Deliver tries to deliver content from env.From to rcpts, all in domain.
// It returns one result per recipient: nil when the server accepted it,
// otherwise a *reply.Error, temporary (4xx) or permanent (5xx).
func (c *Client) Deliver(ctx context.Context, domain string, env envelope.Envelope, rcpts []envelope.Recipient, content []byte) []error {
	results := make([]error, len(rcpts))
	if len(rcpts) == 0 {
		return results
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	content = crlf(content)

	// Addresses go into command lines: refuse any that could break one.
	if !validPath(env.From, true) {
		return fill(results, &reply.Error{Code: 553, Enhanced: "5.1.7", Text: "Bad sender address syntax"})
	}
	var good []envelope.Recipient
	var idx []int
	for i, r := range rcpts {
		if !validPath(r.Address, false) {
			results[i] = reply.ErrBadAddress
			continue
		}
		good = append(good, r)
		idx = append(idx, i)
	}
	if len(good) == 0 {
		return results
	}
	if len(good) < len(rcpts) {
		sub := c.Deliver(ctx, domain, env, good, content)
		for j, i := range idx {
			results[i] = sub[j]
		}
		return results
	}

	if relay, ok := c.route(domain); ok {
		host, portStr, err := net.SplitHostPort(relay.Address)
		port, perr := strconv.Atoi(portStr)
		if err != nil || perr != nil || port < 1 || port > 65535 {
			return fill(results, &reply.Error{Code: 451, Enhanced: "4.3.5", Text: "Relay host is misconfigured"})
		}
		mode := strings.ToLower(relay.TLS)
		if mode == "" {
			mode = "starttls"
		}
		t := target{name: host, port: port, relay: &relay, tls: mode, requireTLS: env.RequireTLS}
		return c.tryHosts(ctx, []target{t}, env, rcpts, content, results)
	}

	targets, rerr := c.mailHosts(ctx, domain)
	noPolicy := !env.RequireTLS && tlsRequiredNo(content)
	if rerr == nil && !noPolicy {
		targets, rerr = c.applySTS(ctx, domain, targets)
	}
	if rerr != nil {
		return fill(results, rerr)
	}
	for i := range targets {
		targets[i].requireTLS, targets[i].noPolicy = env.RequireTLS, noPolicy
	}
	return c.tryHosts(ctx, targets, env, rcpts, content, results)
}

// validPath reports whether addr can be sent in MAIL FROM:<> or RCPT TO:<>
// (no controls, spaces or angle brackets, bounded length per RFC 5321
// §4.5.3.1.3).
func validPath(addr string, null bool) bool {
	if addr == "" {
		return null
	}
	if len(addr) > 256 || !strings.Contains(addr, "@") {
		return false
	}
	for _, r := range addr {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' {
			return false
		}
	}
	return true
}

func fill(results []error, err error) []error {
	for i := range results {
		results[i] = err
	}
	return results
}

// route returns the relay for domain, if any.
func (c *Client) route(domain string) (config.Smarthost, bool) {
	for d, sh := range c.opts.Transports {
		if strings.EqualFold(strings.TrimSuffix(d, "."), domain) {
			return sh, true
		}
	}
	if c.opts.Smarthost != nil {
		return *c.opts.Smarthost, true
	}
	return config.Smarthost{}, false
}

// mailHosts finds the hosts to try for domain (RFC 5321 §5.1): MX records
// by preference, shuffled among equal preferences; without MX records the
// domain itself (implicit MX). A null MX (RFC 7505) and a non-existent
// domain fail permanently, DNS trouble temporarily.
func (c *Client) mailHosts(ctx context.Context, domain string) ([]target, *reply.Error) {
	mxs, mxSecure, err := c.opts.Resolver.LookupMXSecure(ctx, domain)
	switch {
	case dns.IsTemporary(err):
		return nil, errDNSTemp
	case err != nil:
		// No MX: the domain's own address records are its implicit MX
		// (RFC 5321 §5.1). Whether NODATA or NXDOMAIN, the address lookup
		// tells us whether the domain can receive at all.
		_, aerr := c.opts.Resolver.LookupIP(ctx, domain)
		switch {
		case aerr == nil:
			// The domain itself, not a name an MX answer gave us: its
			// TLSA records may be used (RFC 7672 §2.2.2).
			return []target{{name: domain, port: c.opts.Port, domain: domain, mxSecure: true}}, nil
		case dns.IsTemporary(aerr):
			return nil, errDNSTemp
		}
		return nil, errNoDomain
	}
	// RFC 7505 §3: a single MX of "." means no mail. A "." among other
	// MX records is meaningless and ignored.
	var hosts []*net.MX
	for _, mx := range mxs {
		if h := strings.TrimSuffix(mx.Host, "."); h != "" {
			hosts = append(hosts, mx)
		}
	}
	if len(hosts) == 0 {
		return nil, errNullMX
	}
	slices.SortStableFunc(hosts, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	// Shuffle runs of equal preference (RFC 5321 §5.1: "randomize").
	for i := 0; i < len(hosts); {
		j := i
		for j < len(hosts) && hosts[j].Pref == hosts[i].Pref {
			j++
		}
		run := hosts[i:j]
		rand.Shuffle(len(run), func(a, b int) { run[a], run[b] = run[b], run[a] })
		i = j
	}
	var out []target
	for _, mx := range hosts {
		if len(out) == maxHosts {
			break
		}
		out = append(out, target{name: strings.ToLower(strings.TrimSuffix(mx.Host, ".")), port: c.opts.Port, domain: domain, mxSecure: mxSecure})
	}
	return out, nil
}

// tryHosts tries each target's addresses in order until one runs a
// transaction.
func (c *Client) tryHosts(ctx context.Context, targets []target, env envelope.Envelope, rcpts []envelope.Recipient, content []byte, results []error) []error {
	var last *reply.Error
	dnsTemp, resolved := false, false
	attempts := 0
	for _, t := range targets {
		ips, err := c.opts.Resolver.LookupIP(ctx, t.name)
		if err != nil {
			c.log.Info("smtpclient: no address", "host", t.name, "err", err)
			dnsTemp = dnsTemp || dns.IsTemporary(err) || t.relay != nil
			continue
		}
		resolved = true
		if err := c.applyDANE(ctx, &t); err != nil {
			last = err
			continue
		}
		for _, ip := range ips {
			if attempts >= maxAttempts || ctx.Err() != nil {
				break
			}
			attempts++
			final, err := c.attempt(ctx, t, ip, env, rcpts, content, results)
			if final {
				return results
			}
			// Report what a server said (or TLS trouble) over a mere
			// failure to connect elsewhere.
			if last == nil || err.Enhanced != "4.4.1" || last.Enhanced == "4.4.1" {
				last = err
			}
		}
	}
	switch {
	case last != nil:
		return fill(results, last)
	case ctx.Err() != nil:
		return fill(results, errInterupted)
	case !resolved && dnsTemp:
		return fill(results, errDNSTemp)
	default:
		return fill(results, errNoAddress)
	}
}

// attempt runs one connection to ip. final reports whether results are
// decided; otherwise err says why this address failed and the next one
// should be tried.
func (c *Client) attempt(ctx context.Context, t target, ip netip.Addr, env envelope.Envelope, rcpts []envelope.Recipient, content []byte, results []error) (final bool, err *reply.Error) {
	log := c.log.With("host", t.name, "ip", ip.String())
	if t.requireTLS && !c.validated(t) {
		return false, &reply.Error{Code: 550, Enhanced: "5.7.30", Text: fmt.Sprintf(
			"REQUIRETLS: no MTA-STS policy or DNSSEC-authenticated TLSA records validate %s", t.name)}
	}
	key := keyOf(t, ip)
	if cn := c.cache.take(ctx, key); cn != nil {
		c.run(ctx, cn, key, t, env, rcpts, content, results)
		log.Info("smtpclient: transaction done", "tls", cn.tls, "reused", true, "results", summary(results))
		return true, nil
	}
	t.sess = &session{ip: ip.String()}
	conn, rerr := c.open(ctx, t, ip, true, log)
	if errors.Is(rerr, errRetryPlain) {
		log.Info("smtpclient: TLS handshake failed, retrying without TLS")
		conn, rerr = c.open(ctx, t, ip, false, log)
	}
	if rerr != nil {
		var re *reply.Error
		if !errors.As(rerr, &re) {
			re = &reply.Error{Code: 451, Enhanced: "4.4.2", Text: "Connection to " + t.name + " failed"}
		}
		log.Info("smtpclient: host failed", "err", rerr)
		return false, re
	}
	if conn.tls {
		c.tlsSuccess(t)
	}
	c.run(ctx, conn, key, t, env, rcpts, content, results)
	log.Info("smtpclient: transaction done", "tls", conn.tls, "results", summary(results))
	return true, nil
}

// run runs one transaction on cn, then keeps cn for the next message when
// it ended cleanly and reuse allows, else ends the session.
func (c *Client) run(ctx context.Context, cn *conn, key reuseKey, t target, env envelope.Envelope, rcpts []envelope.Recipient, content []byte, results []error) {
	stop := context.AfterFunc(ctx, cn.close)
	clean := c.transaction(ctx, cn, t, env, rcpts, content, results)
	if stop() && clean && c.cache.put(key, cn) {
		return
	}
	if clean {
		cn.quit()
	}
	cn.close()
}

func summary(results []error) string {
	var b strings.Builder
	for i, r := range results {
		if i > 0 {
			b.WriteString(", ")
		}
		if r == nil {
			b.WriteString("ok")
		} else {
			b.WriteString(r.Error())
		}
	}
	return b.String()
}

// errRetryPlain asks attempt to reconnect without STARTTLS.
var errRetryPlain = errors.New("TLS handshake failed; retry without TLS")

// open connects, reads the greeting, says EHLO, upgrades to TLS and
// authenticates as configured. Errors are *reply.Error (the server's or
// ours) or errRetryPlain.
func (c *Client) open(ctx context.Context, t target, ip netip.Addr, tryTLS bool, log *slog.Logger) (*conn, error) {
	d := net.Dialer{Timeout: c.opts.ConnectTimeout}
	if la := c.opts.LocalAddr; la.IsValid() && la.Is4() == ip.Unmap().Is4() {
		d.LocalAddr = &net.TCPAddr{IP: la.AsSlice()}
	}
	nc, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, uint16(t.port)).String())
	if err != nil {
		return nil, &reply.Error{Code: 451, Enhanced: "4.4.1", Text: fmt.Sprintf("Could not connect to %s [%s]: %s", t.name, ip, dialReason(err))}
	}
	tlsCfg := c.tlsConfig(t)
	isTLS := false
	if t.relay != nil && t.tls == "tls" {
		tc := tls.Client(nc, tlsCfg)
		nc.SetDeadline(time.Now().Add(c.opts.CommandTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, &reply.Error{Code: 451, Enhanced: "4.7.0", Text: fmt.Sprintf("TLS with %s [%s] failed", t.name, ip)}
		}
		nc.SetDeadline(time.Time{})
		nc, isTLS = tc, true
	}
	cn := newConn(nc, t.name, c.opts.CommandTimeout, isTLS)
	stop := context.AfterFunc(ctx, cn.close)
	defer stop()
	ok := false
	defer func() {
		if !ok {
			cn.close()
		}
	}()
	lost := func(err error) error {
		log.Debug("smtpclient: connection lost", "err", err)
		return &reply.Error{Code: 451, Enhanced: "4.4.2", Text: fmt.Sprintf("Connection to %s [%s] lost", t.name, ip)}
	}

	// Greeting (RFC 5321 §3.1) and EHLO: a refusal sends us to the next
	// host.
	rep, err := cn.greet()
	if err != nil {
		return nil, lost(err)
	}
	if rep.Code != 220 {
		return nil, failure(rep)
	}
	if rep, err = cn.ehlo(c.opts.Hostname); err != nil {
		return nil, lost(err)
	} else if rep.Code != 250 {
		return nil, failure(rep)
	}

	// TLS is required by configuration, for a relay we log in to that is
	// not on loopback, or when certificates are verified (a verified
	// setup must not silently downgrade after a failed handshake).
	auth := t.relay != nil && t.relay.Username != ""
	mustTLS := c.opts.RequireTLS || (auth && !ip.IsLoopback()) || t.sts.enforced() || t.dane != nil || t.requireTLS
	wantTLS := tryTLS && !cn.tls && !(t.relay != nil && t.tls == "none")
	if wantTLS && cn.has("STARTTLS") {
		rep, err := cn.startTLS(ctx, tlsCfg)
		var te *tlsError
		switch {
		case errors.As(err, &te):
			log.Info("smtpclient: STARTTLS failed", "err", te.err)
			if mustTLS || c.opts.VerifyTLS {
				return nil, tlsRefused(t, ip, te.err)
			}
			return nil, errRetryPlain
		case err != nil:
			return nil, lost(err)
		case rep != nil:
			log.Info("smtpclient: STARTTLS refused", "reply", rep.Text())
		default:
			// RFC 3207 §4.2: forget what we knew and say EHLO again.
			if rep, err := cn.ehlo(c.opts.Hostname); err != nil {
				return nil, lost(err)
			} else if rep.Code != 250 {
				return nil, failure(rep)
			}
		}
	}
	if mustTLS && !cn.tls {
		return nil, c.noTLS(t, ip, log)
	}
	if t.sts != nil && tryTLS && !cn.tls && !t.sts.enforced() {
		c.tlsFailure(t, "sts", "starttls-not-supported", "STARTTLS not offered")
	}

	if auth {
		if !supportsPlain(cn.ext["AUTH"]) {
			return nil, &reply.Error{Code: 451, Enhanced: "4.7.0", Text: "Relay " + t.name + " does not offer AUTH PLAIN"}
		}
		rep, err := cn.authPlain(t.relay.Username, t.relay.Password)
		if err != nil {
			return nil, lost(err)
		}
		if rep.Code != 235 {
			// A refused login is our configuration's problem: keep the
			// mail and retry rather than bounce it.
			e := failure(rep)
			return nil, &reply.Error{Code: 451, Enhanced: "4.7.8", Text: "Relay " + t.name + " refused authentication: " + e.Text}
		}
	}
	ok = true
	return cn, nil
}

func supportsPlain(mechs string) bool {
	for _, m := range strings.Fields(mechs) {
		if strings.EqualFold(m, "PLAIN") {
			return true
		}
	}
	return false
}

// dialReason describes a connect failure without Go internals.
func dialReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "connection timed out"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	}
	return "network error"
}

// failure turns a non-success reply into a *reply.Error; replies outside
// 4xx/5xx where an error was expected become a temporary protocol error.
func failure(rep *Reply) *reply.Error {
	if rep.Code >= 400 {
		return rep.Err()
	}
	return &reply.Error{Code: 451, Enhanced: "4.5.0", Text: "Unexpected reply: " + strconv.Itoa(rep.Code) + " " + rep.Text()}
}

// needsUTF8 reports whether the message needs SMTPUTF8 (RFC 6531 §3.4):
// a non-ASCII envelope address, or, when the client said SMTPUTF8 when it
// gave us the message, a non-ASCII header section. A message whose
// envelope and header are ASCII does not need it even when it came with
// the parameter (net/smtp and others add it whenever offered), so it may
// go to a server without SMTPUTF8, as Postfix's smtputf8_autodetect does.
func needsUTF8(env envelope.Envelope, rcpts []envelope.Recipient, content []byte) bool {
	if !isASCII(env.From) {
		return true
	}
	for _, r := range rcpts {
		if !isASCII(r.Address) {
			return true
		}
	}
	return env.SMTPUTF8 && is8bit(headerSection(content))
}

// headerSection returns content up to the empty line that ends the header
// section (all of content when there is none).
func headerSection(content []byte) []byte {
	if bytes.HasPrefix(content, []byte("\r\n")) || bytes.HasPrefix(content, []byte("\n")) {
		return nil
	}
	for _, sep := range [][]byte{[]byte("\r\n\r\n"), []byte("\n\n")} {
		if i := bytes.Index(content, sep); i >= 0 {
			return content[:i]
		}
	}
	return content
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func is8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// crlf returns content with every line ending in CRLF (RFC 5321 §2.3.8)
// and a final line break.
func crlf(content []byte) []byte {
	bare := false
	for i, c := range content {
		if c == '\n' && (i == 0 || content[i-1] != '\r') {
			bare = true
			break
		}
	}
	if !bare && bytes.HasSuffix(content, []byte("\r\n")) {
		return content
	}
	out := make([]byte, 0, len(content)+len(content)/32+2)
	for i, c := range content {
		if c == '\n' && (i == 0 || content[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// transaction runs MAIL, RCPT and DATA/BDAT and fills results. It
// reports whether the session is in its initial state again after the
// final reply to the data (reusable, not yet quit); otherwise it has
// sent QUIT or lost the connection.
func (c *Client) transaction(ctx context.Context, cn *conn, t target, env envelope.Envelope, rcpts []envelope.Recipient, content []byte, results []error) bool {
	lostErr := &reply.Error{Code: 451, Enhanced: "4.4.2", Text: "Connection to " + t.name + " lost during the transaction"}
	defer func() {
		// Ctx cancellation closes the connection; report it as such.
		if ctx.Err() != nil {
			for i, r := range results {
				if r == lostErr {
					results[i] = errInterupted
				}
			}
		}
	}()

	utf8 := needsUTF8(env, rcpts, content)
	if utf8 && !cn.has("SMTPUTF8") {
		fill(results, errNoUTF8)
		cn.quit()
		return false
	}
	// Keep the parameter the sender gave where the server understands it.
	utf8 = utf8 || env.SMTPUTF8 && cn.has("SMTPUTF8")
	if max := cn.maxSize(); max > 0 && int64(len(content)) > max {
		fill(results, &reply.Error{Code: 552, Enhanced: "5.3.4", Text: fmt.Sprintf("Message size %d exceeds the limit of %d of %s", len(content), max, t.name)})
		cn.quit()
		return false
	}

	if env.RequireTLS && !cn.has("REQUIRETLS") {
		// RFC 8689 §4.2.1: the next hop must support REQUIRETLS.
		fill(results, &reply.Error{Code: 550, Enhanced: "5.7.30", Text: "REQUIRETLS support required: " + t.name + " does not offer REQUIRETLS"})
		cn.quit()
		return false
	}

	// MAIL (RFC 5321 §4.1.1.2) with extension parameters.
	var mail strings.Builder
	fmt.Fprintf(&mail, "MAIL FROM:<%s>", env.From)
	if env.RequireTLS {
		mail.WriteString(" REQUIRETLS")
	}
	if cn.has("SIZE") {
		fmt.Fprintf(&mail, " SIZE=%d", len(content))
	}
	if (env.EightBit || is8bit(content)) && cn.has("8BITMIME") {
		mail.WriteString(" BODY=8BITMIME") // RFC 6152
	}
	if utf8 {
		mail.WriteString(" SMTPUTF8") // RFC 6531 §3.4
	}
	dsn := cn.has("DSN") // RFC 3461 §4
	if dsn {
		if ret := strings.ToUpper(env.Ret); ret == "FULL" || ret == "HDRS" {
			mail.WriteString(" RET=" + ret)
		}
		if env.EnvID != "" && isASCII(env.EnvID) && len(env.EnvID) <= 100 {
			mail.WriteString(" ENVID=" + xtext(env.EnvID))
		}
	}
	cmds := []string{mail.String()}
	for _, r := range rcpts {
		var b strings.Builder
		fmt.Fprintf(&b, "RCPT TO:<%s>", r.Address)
		if dsn {
			if len(r.Notify) > 0 {
				b.WriteString(" NOTIFY=" + strings.ToUpper(strings.Join(r.Notify, ",")))
			}
			if o := orcpt(r.ORcpt); o != "" {
				b.WriteString(" ORCPT=" + o)
			}
		}
		cmds = append(cmds, b.String())
	}

	// With PIPELINING send MAIL and every RCPT at once (RFC 2920 §3.1),
	// else one at a time; either way read the replies in order.
	replies := make([]*Reply, len(cmds))
	if cn.has("PIPELINING") {
		if err := cn.send(cmds...); err != nil {
			fill(results, lostErr)
			return false
		}
		for i := range cmds {
			rep, err := cn.read(c.opts.CommandTimeout)
			if err != nil {
				c.fillMissing(results, replies, lostErr)
				return false
			}
			replies[i] = rep
		}
	} else {
		for i, cmd := range cmds {
			rep, err := cn.cmd(cmd)
			if err != nil {
				c.fillMissing(results, replies, lostErr)
				return false
			}
			replies[i] = rep
			if i == 0 && rep.Code/100 != 2 {
				break
			}
		}
	}
	if replies[0].Code/100 != 2 {
		fill(results, failure(replies[0]))
		cn.quit()
		return false
	}
	accepted := 0
	for i, rep := range replies[1:] {
		if rep.Code/100 == 2 {
			accepted++
		} else {
			results[i] = failure(rep)
		}
	}
	if accepted == 0 {
		cn.quit()
		return false
	}
	setAccepted := func(err error) {
		for i, rep := range replies[1:] {
			if rep.Code/100 == 2 {
				results[i] = err
			}
		}
	}

	final := 2 * c.opts.CommandTimeout // RFC 5321 §4.5.3.2.6: 10 minutes
	if cn.has("CHUNKING") {
		// BDAT (RFC 3030 §2): the message in chunks, no dot-stuffing.
		for off := 0; off < len(content); off += chunkSize {
			end := min(off+chunkSize, len(content))
			cmd := fmt.Sprintf("BDAT %d", end-off)
			if end == len(content) {
				cmd += " LAST"
			}
			cn.w.WriteString(cmd + "\r\n")
			cn.w.Write(content[off:end])
			if err := cn.w.Flush(); err != nil {
				setAccepted(lostErr)
				return false
			}
			rep, err := cn.read(final)
			if err != nil {
				setAccepted(lostErr)
				return false
			}
			if rep.Code != 250 {
				setAccepted(failure(rep))
				cn.quit()
				return false
			}
		}
		setAccepted(nil)
		return true
	}

	rep, err := cn.cmd("DATA")
	if err != nil {
		setAccepted(lostErr)
		return false
	}
	if rep.Code != 354 {
		setAccepted(failure(rep))
		cn.quit()
		return false
	}
	if err := cn.writeData(content); err != nil {
		setAccepted(lostErr)
		return false
	}
	rep, err = cn.read(final)
	switch {
	case err != nil:
		setAccepted(lostErr)
		return false
	case rep.Code/100 == 2:
		setAccepted(nil)
	default:
		setAccepted(failure(rep))
	}
	return true
}

// fillMissing gives every recipient whose RCPT reply was not read the
// error err; with the MAIL reply missing, all get it.
func (c *Client) fillMissing(results []error, replies []*Reply, err error) {
	if replies[0] == nil || replies[0].Code/100 != 2 {
		fill(results, err)
		return
	}
	for i, rep := range replies[1:] {
		switch {
		case rep == nil || rep.Code/100 == 2:
			// Accepted recipients never got the data.
			results[i] = err
		default:
			results[i] = failure(rep)
		}
	}
}

// quit ends the session politely, not waiting long for the answer.
func (cn *conn) quit() {
	if err := cn.send("QUIT"); err == nil {
		cn.read(min(cn.timeout, 10*time.Second))
	}
}

// orcpt renders a recipient's ORCPT ("type;address", decoded) for the
// RCPT command (RFC 3461 §4.2, RFC 6533 §3 for utf-8 addresses).
func orcpt(s string) string {
	typ, addr, ok := strings.Cut(s, ";")
	if !ok || addr == "" || len(s) > 500 {
		return ""
	}
	switch strings.ToLower(typ) {
	case "rfc822":
		if !isASCII(addr) {
			return "utf-8;" + utf8AddrXtext(addr)
		}
		return "rfc822;" + xtext(addr)
	case "utf-8":
		return "utf-8;" + utf8AddrXtext(addr)
	}
	return ""
}
