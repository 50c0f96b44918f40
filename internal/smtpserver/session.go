package smtpserver

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"pochta/internal/auth"
	"pochta/internal/envelope"
	"pochta/internal/reply"
	"pochta/internal/scram"
	"pochta/internal/store"
)

// session is one SMTP connection.
type session struct {
	s      *Server
	raw    net.Conn // the TCP connection; deadlines set here apply to TLS too
	conn   net.Conn // raw, or the TLS connection over it
	br     *bufio.Reader
	bw     *bufio.Writer
	remote netip.Addr
	tls    bool

	helo    string
	esmtp   bool
	account *store.Account // authenticated account
	errors  int
	// junk counts commands that move no mail (NOOP, RSET, VRFY, EXPN,
	// HELP, EHLO/HELO after the first, RCPT past max_recipients) since
	// the session began or last delivered a message.
	junk int
	// greeted is set by the first EHLO/HELO (again after STARTTLS, which
	// requires a new EHLO).
	greeted bool
	tx      *transaction

	mu          sync.Mutex
	waitingCmd  bool // blocked reading a command (idle, may be interrupted)
	interrupted bool
}

// transaction is the state between MAIL and the end of data.
type transaction struct {
	id      string
	start   time.Time
	from    string
	params  mailParams
	rcpts   []envelope.Recipient
	isLocal []bool
	// rcptCmds counts every RCPT command of the transaction: accepted,
	// duplicate or refused. max_recipients bounds it, so a transaction
	// costs at most that many recipient lookups, however the client
	// repeats or varies its addresses.
	rcptCmds int
	// BDAT state (RFC 3030)
	bdat    bool
	chunks  []byte
	checker lineChecker
	tooBig  bool
	// outgoing is set once the transaction counted toward the account's
	// daily outgoing messages (ratelimit.go).
	outgoing bool
}

// errClose ends a session after its last reply was sent.
var errClose = errors.New("close session")

func newSession(s *Server, conn net.Conn, ip netip.Addr) *session {
	return &session{s: s, raw: conn, conn: conn, remote: ip}
}

func (c *session) setConn(conn net.Conn) {
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, 4096)
	c.bw = bufio.NewWriterSize(conn, 4096)
}

// Interrupt makes an idle session stop waiting for its next command; the
// server calls it when Shutdown begins (conntrack.Session).
func (c *session) Interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.interrupted = true
	if c.waitingCmd {
		c.raw.SetReadDeadline(time.Now())
	}
}

// Serve runs the session until the client leaves, an error or shutdown.
func (c *session) Serve() {
	defer c.raw.Close()
	c.setConn(c.raw)
	opts := &c.s.opts
	if opts.ImplicitTLS {
		if opts.TLSConfig == nil {
			return
		}
		tc := tls.Server(c.raw, opts.TLSConfig)
		c.raw.SetDeadline(time.Now().Add(c.s.limits.CommandTimeout.Duration))
		if err := tc.Handshake(); err != nil {
			c.s.log.Debug("TLS handshake failed", "ip", c.remote, "err", err)
			return
		}
		c.raw.SetDeadline(time.Time{})
		c.setConn(tc)
		c.tls = true
	}
	if c.connectionRefused() {
		return
	}
	if c.reply(220, "", opts.Hostname+" ESMTP ready") != nil {
		return
	}
	for {
		line, tooLong, err := c.readCommand()
		if err != nil {
			c.readFailed(err)
			return
		}
		if tooLong {
			if c.protocolError(500, "5.5.2", "Line too long") != nil {
				return
			}
			continue
		}
		if err := c.handle(line); err != nil {
			return
		}
	}
}

// readFailed answers a failed command read: a timeout or shutdown gets 421.
func (c *session) readFailed(err error) {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return
	}
	c.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.mu.Lock()
	interrupted := c.interrupted
	c.mu.Unlock()
	if interrupted {
		c.reply(421, "4.3.2", c.s.opts.Hostname+" Service shutting down")
	} else {
		c.reply(421, "4.4.2", c.s.opts.Hostname+" Timeout waiting for command, closing connection")
	}
}

// readCommand reads one command line within CommandTimeout. A line longer
// than maxCommandLine is read to its end and reported as tooLong.
func (c *session) readCommand() (string, bool, error) {
	c.raw.SetReadDeadline(time.Now().Add(c.s.limits.CommandTimeout.Duration))
	c.mu.Lock()
	if c.interrupted {
		c.raw.SetReadDeadline(time.Now())
	}
	c.waitingCmd = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.waitingCmd = false
		c.mu.Unlock()
	}()
	return readLine(c.br, maxCommandLine)
}

// readLine reads up to LF; the line ending (CRLF, or a lone LF) is removed.
func readLine(br *bufio.Reader, limit int) (string, bool, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong && len(buf)+len(chunk) <= limit {
			buf = append(buf, chunk...)
		} else {
			tooLong, buf = true, nil
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", false, err
		}
		break
	}
	if tooLong {
		return "", true, nil
	}
	s := string(buf)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, false, nil
}

// reply writes one reply line and flushes it. A client that does not
// read its replies cannot hold the session longer than CommandTimeout.
func (c *session) reply(code int, enhanced, text string) error {
	c.raw.SetWriteDeadline(time.Now().Add(c.s.limits.CommandTimeout.Duration))
	if enhanced != "" {
		fmt.Fprintf(c.bw, "%d %s %s\r\n", code, enhanced, text)
	} else {
		fmt.Fprintf(c.bw, "%d %s\r\n", code, text)
	}
	return c.bw.Flush()
}

func (c *session) replyErr(e *reply.Error) error { return c.reply(e.Code, e.Enhanced, e.Text) }

// protocolError answers a bad command and counts it; after MaxErrors the
// session ends with 421.
func (c *session) protocolError(code int, enhanced, text string) error {
	c.errors++
	if c.errors >= c.s.limits.MaxErrors {
		c.reply(code, enhanced, text)
		c.reply(421, "4.7.0", c.s.opts.Hostname+" Too many errors, closing connection")
		return errClose
	}
	return c.reply(code, enhanced, text)
}

func (c *session) protocolErr(e *reply.Error) error {
	return c.protocolError(e.Code, e.Enhanced, e.Text)
}

// handle runs one command. A non-nil error ends the session.
func (c *session) handle(line string) error {
	if strings.ContainsAny(line, "\r\x00") {
		return c.protocolError(500, "5.5.2", "Syntax error, invalid characters in command")
	}
	verb, arg := splitCommand(line)
	switch verb {
	case "EHLO", "HELO":
		return c.cmdHello(verb == "EHLO", arg)
	case "MAIL":
		return c.cmdMail(arg)
	case "RCPT":
		return c.cmdRcpt(arg)
	case "DATA":
		return c.cmdData(arg)
	case "BDAT":
		return c.cmdBdat(arg)
	case "RSET", "NOOP", "VRFY", "EXPN", "HELP":
		if err := c.countJunk(); err != nil {
			return err
		}
		return c.cmdJunk(verb)
	case "QUIT":
		// The connection stops counting toward the connection limits
		// before the client can read 221 and reconnect.
		c.s.conns.Release(c.raw)
		c.reply(221, "2.0.0", c.s.opts.Hostname+" Bye")
		return errClose
	case "STARTTLS":
		return c.cmdStartTLS(arg)
	case "AUTH":
		return c.cmdAuth(arg)
	}
	return c.protocolError(500, "5.5.1", "Command not recognized")
}

// cmdJunk answers the commands that move no mail.
func (c *session) cmdJunk(verb string) error {
	switch verb {
	case "RSET":
		c.tx = nil
	case "VRFY":
		// RFC 5321 §3.5.3: 252 without revealing whether the user exists.
		return c.reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery")
	case "EXPN":
		return c.reply(502, "5.5.1", "EXPN not available")
	case "HELP":
		return c.reply(214, "2.0.0", "See RFC 5321")
	}
	return c.reply(250, "2.0.0", "OK")
}

// countJunk counts a command that moves no mail. Past MaxJunkCommands
// since the last delivered message the session ends with 421 instead of
// the command's answer: a client may probe, keep alive and reset, but not
// hold a connection (and its per-IP place) forever without sending mail,
// as Postfix's smtpd_junk_command_limit.
func (c *session) countJunk() error {
	c.junk++
	if c.junk <= c.s.limits.MaxJunkCommands {
		return nil
	}
	c.s.log.Info("too many junk commands", "ip", c.remote, "count", c.junk)
	c.s.conns.Release(c.raw)
	c.reply(421, "4.7.0", c.s.opts.Hostname+" Too many commands without mail, closing connection")
	return errClose
}

func (c *session) cmdHello(ehlo bool, arg string) error {
	if c.greeted {
		if err := c.countJunk(); err != nil {
			return err
		}
	}
	if !validHelo(arg) {
		return c.protocolError(501, "5.5.4", "Domain or address literal required")
	}
	c.greeted = true
	c.helo, c.esmtp, c.tx = arg, ehlo, nil
	greeting := c.s.opts.Hostname + " Hello " + arg
	if !ehlo {
		return c.reply(250, "", greeting)
	}
	lines := []string{
		greeting,
		"SIZE " + strconv.FormatInt(c.s.limits.MaxMessageSize, 10),
		"8BITMIME",
		"PIPELINING",
		"ENHANCEDSTATUSCODES",
	}
	if c.s.opts.TLSConfig != nil && !c.tls {
		lines = append(lines, "STARTTLS")
	}
	lines = append(lines, "CHUNKING", "SMTPUTF8", "DSN")
	if c.tls {
		lines = append(lines, "REQUIRETLS") // RFC 8689 §3: only over TLS
	}
	if c.authOffered() {
		m := c.s.opts.Auth.SASLMechanisms(scram.ConnBindings(c.conn, c.s.opts.TLSConfig))
		lines = append(lines, "AUTH "+strings.Join(append(m, "PLAIN", "LOGIN"), " "))
	}
	c.raw.SetWriteDeadline(time.Now().Add(c.s.limits.CommandTimeout.Duration))
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(c.bw, "250%s%s\r\n", sep, l)
	}
	return c.bw.Flush()
}

// authOffered: AUTH exists on submission only, and only where a password
// may travel (TLS, or a loopback client if so configured).
func (c *session) authOffered() bool {
	return c.s.opts.Mode == ModeSubmission && c.s.opts.Auth != nil &&
		c.s.opts.Auth.PlaintextAllowed(c.raw.RemoteAddr(), c.tls)
}

// cmdStartTLS upgrades the connection (RFC 3207). Whatever the client sent
// after the STARTTLS line before the handshake is discarded unread
// (CVE-2011-0411), and the session starts over: a new EHLO is required.
func (c *session) cmdStartTLS(arg string) error {
	switch {
	case c.s.opts.TLSConfig == nil:
		return c.protocolError(502, "5.5.1", "STARTTLS not available")
	case c.tls:
		return c.protocolError(503, "5.5.1", "Already running TLS")
	case arg != "":
		return c.protocolError(501, "5.5.4", "STARTTLS takes no arguments")
	}
	if n := c.br.Buffered(); n > 0 {
		c.br.Discard(n) // pipelined plaintext must not survive into TLS
		c.s.log.Warn("discarded data pipelined after STARTTLS", "ip", c.remote, "bytes", n)
	}
	if err := c.reply(220, "2.0.0", "Ready to start TLS"); err != nil {
		return err
	}
	tc := tls.Server(c.raw, c.s.opts.TLSConfig)
	c.raw.SetDeadline(time.Now().Add(c.s.limits.CommandTimeout.Duration))
	if err := tc.Handshake(); err != nil {
		c.s.log.Debug("STARTTLS handshake failed", "ip", c.remote, "err", err)
		return errClose
	}
	c.raw.SetDeadline(time.Time{})
	c.setConn(tc)
	c.tls = true
	c.helo, c.esmtp, c.tx, c.account = "", false, nil, nil
	c.greeted = false // RFC 3207 §4.2: the client must send EHLO again
	return nil
}

// cmdAuth implements AUTH PLAIN (RFC 4616), LOGIN (RFC 4954) and
// SCRAM-SHA-256[-PLUS] (RFC 5802, RFC 7677; sasl.go).
func (c *session) cmdAuth(arg string) error {
	opts := &c.s.opts
	switch {
	case opts.Mode != ModeSubmission || opts.Auth == nil:
		return c.protocolError(502, "5.5.1", "AUTH not available")
	case c.helo == "" || !c.esmtp:
		return c.protocolError(503, "5.5.1", "Send EHLO first")
	case c.account != nil:
		return c.protocolError(503, "5.5.1", "Already authenticated")
	case c.tx != nil:
		return c.protocolError(503, "5.5.1", "AUTH not allowed during a mail transaction")
	case !opts.Auth.PlaintextAllowed(c.raw.RemoteAddr(), c.tls):
		return c.protocolError(538, "5.7.11", "Encryption required for requested authentication mechanism")
	}
	mech, initial, hasInitial := strings.Cut(arg, " ")
	var user, pass string
	switch strings.ToUpper(mech) {
	case "PLAIN":
		dec, err := c.firstResponse(initial, hasInitial)
		if dec == nil {
			return err
		}
		parts := strings.Split(string(dec), "\x00")
		if len(parts) != 3 {
			return c.protocolError(501, "5.5.2", "Invalid PLAIN response")
		}
		if parts[0] != "" && !strings.EqualFold(parts[0], parts[1]) {
			return c.protocolError(535, "5.7.8", "Authentication credentials invalid")
		}
		user, pass = parts[1], parts[2]
	case "LOGIN":
		var u []byte
		if hasInitial {
			d, err := base64.StdEncoding.DecodeString(initial)
			if err != nil {
				return c.protocolError(501, "5.5.2", "Invalid base64 data")
			}
			u = d
		} else {
			r, err := c.challenge("Username:")
			if err != nil || r == nil {
				return c.authAborted(err)
			}
			u = r
		}
		p, err := c.challenge("Password:")
		if err != nil || p == nil {
			return c.authAborted(err)
		}
		user, pass = string(u), string(p)
	default:
		m := strings.ToUpper(mech)
		bindings := scram.ConnBindings(c.conn, opts.TLSConfig)
		if !slices.Contains(opts.Auth.SASLMechanisms(bindings), m) {
			return c.protocolError(504, "5.5.4", "Unrecognized authentication mechanism")
		}
		return c.authSCRAM(m, bindings, initial, hasInitial)
	}
	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.limits.CommandTimeout.Duration)
	defer cancel()
	acct, err := opts.Auth.Login(ctx, user, pass, c.remote)
	if errors.Is(err, auth.ErrTooManyFailures) {
		return c.authCapped()
	}
	if err != nil {
		return c.authFailed(err)
	}
	return c.authenticated(acct)
}

// errAuthCancelled marks a client's "*" answer to a challenge.
var errAuthCancelled = errors.New("auth cancelled")

// challenge sends a 334 challenge and returns the decoded answer; nil with
// a nil error means the answer was not valid base64.
func (c *session) challenge(prompt string) ([]byte, error) {
	if err := c.reply(334, "", base64.StdEncoding.EncodeToString([]byte(prompt))); err != nil {
		return nil, err
	}
	line, tooLong, err := c.readCommand()
	if err != nil {
		return nil, err
	}
	if tooLong {
		return nil, nil
	}
	switch line {
	case "*":
		return nil, errAuthCancelled
	case "=": // an empty response, as some clients send it
		return []byte{}, nil
	}
	dec, err := base64.StdEncoding.DecodeString(line)
	if err != nil {
		return nil, nil
	}
	return dec, nil
}

func (c *session) authAborted(err error) error {
	switch {
	case err == nil:
		return c.protocolError(501, "5.5.2", "Invalid base64 data")
	case errors.Is(err, errAuthCancelled):
		return c.protocolError(501, "5.0.0", "Authentication cancelled")
	}
	c.readFailed(err)
	return err
}

// mayRelay reports whether this client may send to remote domains.
func (c *session) mayRelay() bool {
	if c.account != nil {
		return true
	}
	if c.s.opts.Mode != ModeInbound {
		return false
	}
	if inPrefixes(c.s.opts.TrustedNetworks, c.remote) {
		return true
	}
	return c.s.opts.BeforeSMTP && c.s.opts.Auth != nil && c.s.opts.Auth.RecentLogin(c.remote)
}

func (c *session) cmdMail(arg string) error {
	opts := &c.s.opts
	switch {
	case c.helo == "":
		return c.protocolError(503, "5.5.1", "Send EHLO/HELO first")
	case c.tx != nil:
		return c.protocolError(503, "5.5.1", "Sender already specified")
	case opts.Mode == ModeSubmission && c.account == nil:
		return c.reply(530, "5.7.0", "Authentication required")
	}
	p, params, rerr := parsePathArg(arg, "FROM:", true)
	if rerr != nil {
		return c.protocolErr(rerr)
	}
	if len(params) > 0 && !c.esmtp {
		return c.protocolError(501, "5.5.4", "Parameters need EHLO")
	}
	mp, rerr := parseMailParams(params)
	if rerr != nil {
		return c.protocolErr(rerr)
	}
	if mp.RequireTLS && !c.tls {
		// RFC 8689 §4.1: REQUIRETLS is only offered, and only valid,
		// within a TLS session.
		return c.reply(530, "5.7.10", "REQUIRETLS needs a TLS session")
	}
	if p.NonASCII && !mp.SMTPUTF8 {
		return c.replyErr(errNeedUTF8)
	}
	if mp.Size > c.s.limits.MaxMessageSize {
		return c.replyErr(reply.ErrTooBig)
	}
	if opts.Mode == ModeSubmission && opts.EnforceSender {
		ok := false
		if p.Addr != "" && opts.Local != nil {
			ctx, cancel := c.opCtx()
			var err error
			ok, err = opts.Local.OwnsAddress(ctx, *c.account, p.Addr)
			cancel()
			if err != nil {
				c.s.log.Error("sender check failed", "err", err)
				return c.replyErr(reply.ErrLocal)
			}
		}
		if !ok {
			return c.reply(553, "5.7.1", "Sender address not owned by the authenticated user")
		}
	}
	if err := c.checkMailRate(); err != nil {
		return err
	}
	c.tx = &transaction{id: newID(), start: time.Now(), from: p.Addr, params: mp}
	c.tx.checker.maxLine = c.s.limits.MaxLineLength
	return c.reply(250, "2.1.0", "Sender OK")
}

func (c *session) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.s.ctx, c.s.limits.CommandTimeout.Duration)
}

// postmasterAddr: RFC 5321 §4.5.1 requires accepting <postmaster> with
// no domain.
func (c *session) postmasterAddr() string {
	return "postmaster@" + strings.ToLower(c.s.opts.Hostname)
}

func (c *session) cmdRcpt(arg string) error {
	if c.tx == nil {
		return c.protocolError(503, "5.5.1", "Need MAIL before RCPT")
	}
	tx := c.tx
	var p path
	var params []param
	var rerr *reply.Error
	if len(arg) >= 3 && strings.EqualFold(arg[:3], "TO:") &&
		strings.HasPrefix(strings.ToLower(strings.TrimLeft(arg[3:], " ")), "<postmaster>") {
		rest := strings.TrimLeft(arg[3:], " ")[len("<postmaster>"):]
		p.Addr = c.postmasterAddr()
		params, rerr = parseParams(rest)
	} else {
		p, params, rerr = parsePathArg(arg, "TO:", false)
	}
	if rerr != nil {
		return c.protocolErr(rerr)
	}
	if len(params) > 0 && !c.esmtp {
		return c.protocolError(501, "5.5.4", "Parameters need EHLO")
	}
	rp, rerr := parseRcptParams(params)
	if rerr != nil {
		return c.protocolErr(rerr)
	}
	// RFC 5321 §4.5.3.1.10: past the limit, 452 and the client sends the
	// rest in another transaction. Every RCPT counts, so duplicates and
	// refused addresses cannot buy lookups beyond the limit, and each one
	// past it is a junk command, so ignoring 452 ends the session.
	if tx.rcptCmds >= c.s.limits.MaxRecipients {
		if err := c.countJunk(); err != nil {
			return err
		}
		return c.reply(452, "4.5.3", "Too many recipients")
	}
	tx.rcptCmds++
	if p.NonASCII && !tx.params.SMTPUTF8 {
		return c.replyErr(errNeedUTF8)
	}
	if relayTrick(p.Addr) {
		return c.replyErr(reply.New(550, "5.7.1", "Relaying denied: address form not accepted"))
	}
	for _, r := range tx.rcpts {
		if strings.EqualFold(r.Address, p.Addr) {
			return c.reply(250, "2.1.5", "Recipient OK (duplicate)")
		}
	}
	local, rerr := c.checkRecipient(p.Addr, tx.params.Size)
	if rerr == nil && !local {
		rerr = c.outgoingLimit(tx, p.Addr)
	}
	if rerr != nil {
		if f := c.s.opts.OnRecipientRejected; f != nil {
			f(rerr.Error())
		}
		return c.replyErr(rerr)
	}
	tx.rcpts = append(tx.rcpts, envelope.Recipient{Address: p.Addr, Notify: rp.Notify, ORcpt: rp.ORcpt})
	tx.isLocal = append(tx.isLocal, local)
	return c.reply(250, "2.1.5", "Recipient OK")
}

// checkRecipient decides whether addr is acceptable and whether it is local.
func (c *session) checkRecipient(addr string, size int64) (bool, *reply.Error) {
	opts := &c.s.opts
	if opts.Local == nil {
		return false, reply.ErrLocal
	}
	ctx, cancel := c.opCtx()
	defer cancel()
	local, err := opts.Local.IsLocalDomain(ctx, envelope.Domain(addr))
	if err != nil {
		c.s.log.Error("domain lookup failed", "err", err)
		return false, reply.ErrLocal
	}
	if local {
		if err := opts.Local.CheckRecipient(ctx, addr, size); err != nil {
			r, ok := reply.As(err)
			if !ok {
				c.s.log.Error("recipient check failed", "err", err)
				return false, reply.ErrLocal
			}
			return false, r
		}
		return true, nil
	}
	if !c.mayRelay() || opts.Queue == nil {
		return false, reply.ErrNoRelay
	}
	return false, nil
}

func (c *session) cmdData(arg string) error {
	switch {
	case arg != "":
		return c.protocolError(501, "5.5.4", "DATA takes no arguments")
	case c.tx == nil:
		return c.protocolError(503, "5.5.1", "Need MAIL before DATA")
	case c.tx.bdat:
		return c.protocolError(503, "5.5.1", "DATA not allowed after BDAT")
	case len(c.tx.rcpts) == 0:
		return c.protocolError(554, "5.5.1", "No valid recipients")
	}
	if err := c.reply(354, "", "Start mail input; end with <CRLF>.<CRLF>"); err != nil {
		return err
	}
	c.raw.SetReadDeadline(time.Now().Add(c.s.limits.DataTimeout.Duration))
	content, res, err := readData(c.br, c.s.limits.MaxMessageSize, c.s.limits.MaxLineLength)
	if err != nil {
		c.logTx(c.tx, 0, "data read failed: "+err.Error())
		c.readFailed(err)
		return err
	}
	tx := c.tx
	c.tx = nil
	return c.finish(tx, content, res)
}

// cmdBdat handles one chunk (RFC 3030). The chunk is always read in full,
// even when it is refused, so the session stays in step with the client.
func (c *session) cmdBdat(arg string) error {
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 || (len(f) == 2 && !strings.EqualFold(f[1], "LAST")) {
		return c.protocolError(501, "5.5.4", "Syntax: BDAT <size> [LAST]")
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n < 0 || len(f[0]) > 20 {
		// The chunk length is unknown, so we cannot resynchronise.
		c.reply(501, "5.5.4", "Invalid chunk size, closing connection")
		return errClose
	}
	last := len(f) == 2
	c.raw.SetReadDeadline(time.Now().Add(c.s.limits.DataTimeout.Duration))
	tx := c.tx
	if tx == nil || len(tx.rcpts) == 0 {
		if _, err := io.CopyN(io.Discard, c.br, n); err != nil {
			c.readFailed(err)
			return err
		}
		if tx == nil {
			return c.protocolError(503, "5.5.1", "Need MAIL and RCPT before BDAT")
		}
		c.tx = nil
		return c.protocolError(554, "5.5.1", "No valid recipients")
	}
	tx.bdat = true
	room := c.s.limits.MaxMessageSize - int64(len(tx.chunks))
	keep := min(n, max(room, 0))
	if keep < n {
		tx.tooBig = true
	}
	// Stream the chunk: memory grows with what arrives, not with what the
	// client announced.
	if _, err := io.CopyN(chunkWriter{tx}, c.br, keep); err != nil {
		c.readFailed(err)
		return err
	}
	if _, err := io.CopyN(&tx.checker, c.br, n-keep); err != nil {
		c.readFailed(err)
		return err
	}
	if tx.tooBig {
		tx.chunks = nil
	}
	if !last {
		return c.reply(250, "2.0.0", fmt.Sprintf("%d octets received", n))
	}
	c.tx = nil
	res := tx.checker.finish()
	res.TooBig = tx.tooBig
	return c.finish(tx, tx.chunks, res)
}

func newID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// logTx writes the one log line of a transaction.
func (c *session) logTx(tx *transaction, size int, result string) {
	c.s.log.Info("transaction", "id", tx.id, "ip", c.remote, "helo", c.helo,
		"from", tx.from, "rcpts", len(tx.rcpts), "size", size, "result", result,
		"duration", time.Since(tx.start).Round(time.Millisecond))
	if f := c.s.opts.OnTransaction; f != nil {
		f(result)
	}
}

// hasLocal reports whether any recipient of tx is local.
func (tx *transaction) hasLocal() bool { return slices.Contains(tx.isLocal, true) }

// chunkWriter collects BDAT content and checks its lines.
type chunkWriter struct{ tx *transaction }

func (w chunkWriter) Write(p []byte) (int, error) {
	w.tx.checker.Write(p)
	w.tx.chunks = append(w.tx.chunks, p...)
	return len(p), nil
}
