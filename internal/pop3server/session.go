package pop3server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"pochta/internal/auth"
	"pochta/internal/conntrack"
	"pochta/internal/scram"
	"pochta/internal/store"
)

// state is the RFC 1939 §3 session state.
type state int

const (
	stateAuthorization state = iota
	stateTransaction
	stateUpdate
)

// writeTimeout bounds each write to the client, so a client that stops
// reading cannot hold a session forever.
const writeTimeout = 2 * time.Minute

// maxDiscard is how much of an over-long line is read and thrown away
// before the session gives up on the client.
const maxDiscard = 64 << 10

// errLineTooLong ends a session whose line does not end within maxDiscard.
var errLineTooLong = errors.New("line too long")

// storeTimeout bounds the store work of the UPDATE state, which runs even
// when the server is shutting down.
const storeTimeout = time.Minute

// msg is one message of the session's snapshot; its message number is
// its index plus one.
type msg struct {
	uid        uint32
	size       int64 // the store's size until exact is set
	exact      bool  // size is the octets RETR sends, before byte-stuffing
	deleted    bool  // marked by DELE in this session
	seen       bool  // has \Seen (no need to set it again)
	hadDeleted bool  // carried \Deleted at login (set through IMAP)
}

// session is one client connection.
type session struct {
	srv     *Server
	rawConn net.Conn // the TCP connection, for deadlines and Shutdown
	conn    net.Conn // rawConn or the TLS connection over it
	ip      netip.Addr
	r       *bufio.Reader
	w       *bufio.Writer
	log     *slog.Logger
	ctx     context.Context

	tls    bool
	state  state
	errors int
	user   string // from USER, waiting for PASS

	acct    store.Account
	locked  bool // holds the server's account lock
	mailbox store.Mailbox
	msgs    []msg

	retrieved, deletedCount int

	// mu orders Interrupt against armRead, so that Shutdown's wake-up
	// cannot be overwritten by a later deadline.
	mu          sync.Mutex
	interrupted bool
	revoked     bool   // the account's access was revoked (revoke.go)
	unrevoke    func() // cancels the Revoker's Watch
}

func newSession(srv *Server, conn net.Conn, ip netip.Addr) *session {
	return &session{
		srv: srv, rawConn: conn, conn: conn, ip: ip,
		r:   bufio.NewReaderSize(conn, 1024),
		w:   bufio.NewWriterSize(conntrack.DeadlineWriter{Conn: conn, Timeout: writeTimeout}, 8192),
		log: srv.log.With("remote", conn.RemoteAddr().String()),
		ctx: srv.conns.Context(),
	}
}

// Interrupt wakes a session blocked reading its next command; one in the
// middle of a command sees it before reading again. The server calls it
// when Shutdown begins (conntrack.Session).
func (s *session) Interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interrupted = true
	s.rawConn.SetReadDeadline(time.Now())
}

// armRead sets the idle deadline for reading the next command, unless the
// session was interrupted by Shutdown.
func (s *session) armRead() (interrupted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.interrupted {
		return true
	}
	s.rawConn.SetReadDeadline(time.Now().Add(s.srv.opts.IdleTimeout))
	return false
}

// Serve runs the session until QUIT, an error or shutdown.
func (s *session) Serve() {
	defer s.rawConn.Close()
	defer func() {
		// A bug in one session must not take the whole server down
		// (as net/http does); the client just loses its connection.
		if r := recover(); r != nil {
			s.log.Error("pop3 session panic", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	defer func() {
		if s.locked {
			s.srv.unlockAccount(s.acct.ID)
		}
	}()
	defer func() {
		if s.unrevoke != nil {
			s.unrevoke()
		}
	}()
	if s.srv.opts.ImplicitTLS {
		if err := s.startTLS(); err != nil {
			s.log.Debug("pop3 TLS handshake failed", "err", err)
			return
		}
	}
	// The greeting (RFC 1939 §4); no APOP timestamp, APOP is not offered.
	s.reply("+OK %s POP3 server ready", s.srv.opts.Hostname)
	s.flush()
	for {
		if s.armRead() {
			s.endNotice()
			return
		}
		line, tooLong, err := s.readLine(maxCommandLine)
		if err != nil {
			var ne net.Error
			switch {
			case s.srv.isClosing(), s.isRevoked():
				s.endNotice()
			case errors.As(err, &ne) && ne.Timeout():
				// RFC 1939 §3: the autologout timer; no UPDATE state.
				s.reply("-ERR Autologout; idle for too long")
				s.flush()
				if s.state == stateTransaction {
					s.logout("timeout")
				}
			case errors.Is(err, errLineTooLong):
				s.reply("-ERR Line too long, closing connection")
				s.flush()
				if s.state == stateTransaction {
					s.logout("line too long")
				}
			case s.state == stateTransaction:
				s.logout("connection dropped")
			}
			return
		}
		var ok bool
		if tooLong {
			ok = s.fail("-ERR Command line too long")
		} else {
			ok = s.dispatch(line)
		}
		if !ok {
			return
		}
		if s.r.Buffered() == 0 {
			// Pipelining (RFC 2449 §6.6): answers to a batch of commands
			// are sent together once the batch is consumed.
			if err := s.flush(); err != nil {
				if s.state == stateTransaction {
					s.logout("connection dropped")
				}
				return
			}
		}
	}
}

func (s *session) shutdownNotice() {
	s.reply("-ERR [SYS/TEMP] Server shutting down, no messages deleted")
	s.flush()
	if s.state == stateTransaction {
		s.logout("server shutdown")
	}
}

func (s *session) logout(reason string) {
	s.log.Info("pop3 logout", "user", s.acct.Address, "reason", reason,
		"retrieved", s.retrieved, "deleted", s.deletedCount)
}

// readLine reads one line of at most limit octets including its CRLF and
// returns it without the line ending. A longer line is consumed and
// reported with tooLong; a line that does not end within maxDiscard is an
// error.
func (s *session) readLine(limit int) (line string, tooLong bool, err error) {
	var buf []byte
	total := 0
	for {
		chunk, err := s.r.ReadSlice('\n')
		total += len(chunk)
		if total <= limit {
			buf = append(buf, chunk...)
		} else {
			tooLong = true
		}
		if err == bufio.ErrBufferFull {
			if total > maxDiscard {
				return "", true, errLineTooLong
			}
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
	buf = buf[:len(buf)-1]
	if n := len(buf); n > 0 && buf[n-1] == '\r' {
		buf = buf[:n-1]
	}
	return string(buf), false, nil
}

func (s *session) reply(format string, args ...any) {
	fmt.Fprintf(s.w, format, args...)
	s.w.WriteString("\r\n")
}

func (s *session) flush() error { return s.w.Flush() }

// fail sends an error reply for a bad command and counts it; it reports
// whether the session may go on.
//
// Answers that are normal in a working session (no such message, message
// already deleted) use refuse instead and are not counted.
func (s *session) fail(text string) bool {
	s.errors++
	if s.errors >= s.srv.opts.MaxErrors {
		s.reply("%s", text)
		s.reply("-ERR Too many errors, closing connection")
		s.flush()
		if s.state == stateTransaction {
			s.logout("too many errors")
		}
		return false
	}
	s.reply("%s", text)
	return true
}

// refuse sends an error reply that does not count as a client error.
func (s *session) refuse(text string) bool {
	s.reply("%s", text)
	return true
}

// dispatch runs one command line; it reports whether the session goes on.
func (s *session) dispatch(line string) bool {
	cmd, err := parseCommand(line)
	if err != nil {
		return s.fail("-ERR " + parseErrorText(err))
	}
	switch s.state {
	case stateAuthorization:
		switch cmd.name {
		case "CAPA":
			return s.cmdCapa()
		case "STLS":
			return s.cmdStls(cmd)
		case "USER":
			return s.cmdUser(cmd)
		case "PASS":
			return s.cmdPass(cmd)
		case "AUTH":
			return s.cmdAuth(cmd)
		case "QUIT":
			s.srv.conns.Release(s.rawConn) // before the client can reconnect
			s.reply("+OK %s POP3 server signing off", s.srv.opts.Hostname)
			s.flush()
			return false
		case "APOP":
			return s.fail("-ERR APOP not supported")
		}
	case stateTransaction:
		switch cmd.name {
		case "CAPA":
			return s.cmdCapa()
		case "STAT":
			return s.cmdStat(cmd)
		case "LIST", "UIDL":
			return s.cmdList(cmd)
		case "RETR", "TOP":
			return s.cmdRetr(cmd)
		case "DELE":
			return s.cmdDele(cmd)
		case "RSET":
			return s.cmdRset(cmd)
		case "NOOP":
			if len(cmd.args) != 0 {
				return s.fail("-ERR NOOP takes no arguments")
			}
			s.reply("+OK")
			return true
		case "QUIT":
			return s.cmdQuit()
		case "STLS", "USER", "PASS", "AUTH", "APOP":
			return s.fail("-ERR Already authenticated")
		}
	}
	return s.fail("-ERR Unknown command")
}

func parseErrorText(err error) string {
	switch err {
	case errEmptyCommand:
		return "Empty command"
	case errTooManyArgs:
		return "Too many arguments"
	case errArgTooLong:
		return "Argument too long"
	case errBadByte:
		return "Invalid character in command"
	}
	return "Unknown command"
}

// plaintextOK reports whether passwords may be sent on this connection.
func (s *session) plaintextOK() bool {
	return s.srv.opts.Auth.PlaintextAllowed(s.rawConn.RemoteAddr(), s.tls)
}

// cmdCapa lists capabilities (RFC 2449 §5). USER and SASL PLAIN are shown
// only where a password may be sent; STLS only before TLS (RFC 2595 §4).
func (s *session) cmdCapa() bool {
	s.reply("+OK Capability list follows")
	for _, c := range []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"} {
		s.reply("%s", c)
	}
	if s.state == stateAuthorization {
		if s.plaintextOK() {
			s.reply("USER")
			s.reply("SASL %s", strings.Join(s.mechanisms(), " "))
		}
		if s.srv.opts.TLSConfig != nil && !s.tls {
			s.reply("STLS")
		}
	}
	s.reply("IMPLEMENTATION pochta")
	s.reply(".")
	return true
}

// cmdStls starts TLS (RFC 2595 §4).
func (s *session) cmdStls(cmd command) bool {
	switch {
	case len(cmd.args) != 0:
		return s.fail("-ERR STLS takes no arguments")
	case s.tls:
		return s.fail("-ERR TLS already active")
	case s.srv.opts.TLSConfig == nil:
		return s.fail("-ERR TLS not available")
	}
	if s.r.Buffered() > 0 {
		// Commands pipelined after STLS were sent in plain text and
		// could have been injected (CVE-2011-0411 style); refuse them.
		s.reply("-ERR Commands after STLS are not allowed")
		s.flush()
		return false
	}
	s.reply("+OK Begin TLS negotiation")
	if err := s.flush(); err != nil {
		return false
	}
	if err := s.startTLS(); err != nil {
		s.log.Debug("pop3 STLS handshake failed", "err", err)
		return false
	}
	// RFC 2595 §4: forget what the client said before TLS.
	s.user = ""
	return true
}

// startTLS runs the server side of a TLS handshake on the connection.
func (s *session) startTLS() error {
	tc := tls.Server(s.rawConn, s.srv.opts.TLSConfig)
	s.rawConn.SetDeadline(time.Now().Add(30 * time.Second))
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	s.rawConn.SetDeadline(time.Time{})
	s.conn = tc
	s.tls = true
	s.r.Reset(tc)
	s.w.Reset(conntrack.DeadlineWriter{Conn: tc, Timeout: writeTimeout})
	return nil
}

const plaintextRefused = "-ERR [AUTH] Plaintext authentication disallowed without TLS, use STLS"

func (s *session) cmdUser(cmd command) bool {
	if !s.plaintextOK() {
		// Refuse the name so the client never sends the password.
		return s.fail(plaintextRefused)
	}
	if len(cmd.args) != 1 {
		return s.fail("-ERR USER needs exactly one argument")
	}
	s.user = cmd.args[0]
	s.reply("+OK Send password")
	return true
}

func (s *session) cmdPass(cmd command) bool {
	user := s.user
	s.user = ""
	switch {
	case !s.plaintextOK():
		return s.fail(plaintextRefused)
	case user == "":
		return s.fail("-ERR USER first")
	case cmd.rest == "":
		return s.fail("-ERR PASS needs an argument")
	}
	return s.login(user, cmd.rest, "USER")
}

// cmdAuth implements AUTH (RFC 5034) with PLAIN (RFC 4616) and
// SCRAM-SHA-256[-PLUS] (RFC 5802, RFC 7677; sasl.go).
func (s *session) cmdAuth(cmd command) bool {
	if len(cmd.args) == 0 {
		// Not in RFC 5034, but many clients probe with a bare AUTH
		// (the older RFC 1734 convention): list the mechanisms.
		s.reply("+OK Supported mechanisms follow")
		if s.plaintextOK() {
			for _, m := range s.mechanisms() {
				s.reply("%s", m)
			}
		}
		s.reply(".")
		return true
	}
	mech := strings.ToUpper(cmd.args[0])
	var bindings scram.Bindings
	if mech != "PLAIN" {
		bindings = scram.ConnBindings(s.conn, s.srv.opts.TLSConfig)
		if !slices.Contains(s.srv.opts.Auth.SASLMechanisms(bindings), mech) {
			return s.fail("-ERR Unsupported authentication mechanism")
		}
	}
	if !s.plaintextOK() {
		return s.fail(plaintextRefused)
	}
	var raw []byte
	if len(cmd.args) == 2 {
		if cmd.args[1] != "=" { // RFC 5034 §4: "=" is an empty initial response
			var err error
			if raw, err = base64.StdEncoding.DecodeString(cmd.args[1]); err != nil {
				return s.fail("-ERR Invalid base64 in authentication response")
			}
		}
	} else {
		// RFC 5034 §4: an empty challenge, then the client's response.
		var err error
		if raw, err = s.saslContinue(nil); err != nil {
			return s.saslAborted(err)
		}
	}
	if mech != "PLAIN" {
		return s.authSCRAM(mech, bindings, raw)
	}
	authzid, user, pass, ok := parsePlain(raw)
	if !ok {
		return s.fail("-ERR [AUTH] Malformed PLAIN response")
	}
	if authzid != "" && !strings.EqualFold(authzid, user) {
		// No proxy authorization: one may only act as oneself.
		return s.fail("-ERR [AUTH] Authorization identity not permitted")
	}
	return s.login(user, pass, "PLAIN")
}

// parsePlain splits a PLAIN message: [authzid] NUL authcid NUL passwd
// (RFC 4616 §2).
func parsePlain(b []byte) (authzid, user, pass string, ok bool) {
	parts := strings.Split(string(b), "\x00")
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// login checks credentials and, on success, opens the INBOX and enters the
// TRANSACTION state.
func (s *session) login(user, pass, mech string) bool {
	acct, err := s.srv.opts.Auth.Login(s.ctx, user, pass, s.ip)
	if err != nil {
		return s.loginFailed(user, mech, err)
	}
	return s.loggedIn(acct, mech)
}

// loginFailed answers a failed USER/PASS or AUTH.
func (s *session) loginFailed(user, mech string, err error) bool {
	if errors.Is(err, auth.ErrInvalid) {
		s.log.Info("pop3 login failed", "user", user, "mech", mech, "tls", s.tls)
		return s.fail("-ERR [AUTH] Authentication failed")
	}
	s.log.Error("pop3 login error", "user", user, "err", err)
	return s.fail("-ERR [SYS/TEMP] Temporary server failure, try again later")
}

// loggedIn opens acct's INBOX and enters the TRANSACTION state.
func (s *session) loggedIn(acct store.Account, mech string) bool {
	s.acct = acct
	if !s.srv.lockAccount(acct.ID) {
		s.log.Info("pop3 login refused: mailbox in use", "user", acct.Address)
		return s.fail("-ERR [IN-USE] Mailbox is in use by another session")
	}
	s.locked = true
	if err := s.snapshot(); err != nil {
		s.log.Error("pop3 opening INBOX", "user", acct.Address, "err", err)
		s.srv.unlockAccount(acct.ID)
		s.locked = false
		s.reply("-ERR [SYS/TEMP] Cannot open mailbox, try again later")
		s.flush()
		return false
	}
	s.state = stateTransaction
	s.watchRevocation()
	s.log.Info("pop3 login", "user", acct.Address, "mech", mech, "tls", s.tls, "messages", len(s.msgs))
	s.reply("+OK Logged in, %d messages", len(s.msgs))
	return true
}

// exactSize makes msgs[i].size the number of octets RETR sends for it
// (not counting byte-stuffing). The store keeps messages as they came;
// one with bare LF line endings grows when sent with CRLF, so the size is
// measured by converting the content once, and remembered server-wide
// (content never changes under a UID). A message another session removed
// keeps the store's size.
func (s *session) exactSize(i int) error {
	m := &s.msgs[i]
	if m.exact {
		return nil
	}
	key := sizeKey{s.mailbox.ID, s.mailbox.UIDValidity, m.uid}
	if n, ok := s.srv.cachedSize(key); ok {
		m.size, m.exact = n, true
		return nil
	}
	rc, err := s.srv.opts.Store.Open(s.ctx, s.mailbox.ID, m.uid)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			m.exact = true
			return nil
		}
		return err
	}
	defer rc.Close()
	n, err := writeMessage(io.Discard, rc, -1)
	if err != nil {
		return err
	}
	m.size, m.exact = n, true
	s.srv.storeSize(key, n)
	return nil
}

// exactSizes runs exactSize for every message not marked deleted, or
// replies with a temporary error and returns false.
func (s *session) exactSizes(only int) bool {
	for i := range s.msgs {
		if (only >= 0 && i != only) || s.msgs[i].deleted {
			continue
		}
		if err := s.exactSize(i); err != nil {
			s.log.Error("pop3 measuring message", "user", s.acct.Address, "uid", s.msgs[i].uid, "err", err)
			s.reply("-ERR [SYS/TEMP] Cannot read mailbox, try again later")
			return false
		}
	}
	return true
}

// snapshot fixes the session's message list (RFC 1939 §4: messages are
// numbered from 1 at the start of the session and keep their numbers).
func (s *session) snapshot() error {
	mb, err := s.srv.opts.Store.GetMailbox(s.ctx, s.acct.ID, "INBOX")
	if err != nil {
		return err
	}
	s.mailbox = mb
	s.msgs = s.msgs[:0]
	return s.srv.opts.Store.Messages(s.ctx, mb.ID, nil, func(m store.Message) error {
		s.msgs = append(s.msgs, msg{
			uid: m.UID, size: m.Size,
			seen: m.HasFlag(`\Seen`), hadDeleted: m.HasFlag(`\Deleted`),
		})
		return nil
	})
}

// message resolves a message-number argument; it replies and counts an
// error when there is no such (undeleted) message.
func (s *session) message(arg string) (int, bool) {
	n, ok := parseNumber(arg)
	if !ok || n < 1 || n > len(s.msgs) {
		return 0, false
	}
	if s.msgs[n-1].deleted {
		return 0, false
	}
	return n - 1, true
}

func (s *session) cmdStat(cmd command) bool {
	if len(cmd.args) != 0 {
		return s.fail("-ERR STAT takes no arguments")
	}
	if !s.exactSizes(-1) {
		return true
	}
	count, size := 0, int64(0)
	for _, m := range s.msgs {
		if !m.deleted {
			count++
			size += m.size
		}
	}
	s.reply("+OK %d %d", count, size)
	return true
}

// uidl is the unique-id of a message (RFC 1939 §7): stable across
// sessions while the mailbox keeps its UIDVALIDITY.
func (s *session) uidl(m msg) string {
	return strconv.FormatUint(uint64(s.mailbox.UIDValidity), 10) + "." + strconv.FormatUint(uint64(m.uid), 10)
}

// cmdList answers LIST and UIDL, with or without a message number.
func (s *session) cmdList(cmd command) bool {
	value := func(m msg) string {
		if cmd.name == "UIDL" {
			return s.uidl(m)
		}
		return strconv.FormatInt(m.size, 10)
	}
	switch len(cmd.args) {
	case 0:
		if cmd.name == "LIST" && !s.exactSizes(-1) {
			return true
		}
		s.reply("+OK")
		for i, m := range s.msgs {
			if !m.deleted {
				s.reply("%d %s", i+1, value(m))
			}
		}
		s.reply(".")
	case 1:
		i, ok := s.message(cmd.args[0])
		if !ok {
			return s.refuse("-ERR No such message")
		}
		if cmd.name == "LIST" && !s.exactSizes(i) {
			return true
		}
		s.reply("+OK %d %s", i+1, value(s.msgs[i]))
	default:
		return s.fail("-ERR Too many arguments")
	}
	return true
}

// cmdRetr answers RETR n and TOP n lines.
func (s *session) cmdRetr(cmd command) bool {
	want := 1
	if cmd.name == "TOP" {
		want = 2
	}
	if len(cmd.args) != want {
		return s.fail(fmt.Sprintf("-ERR %s needs %d argument(s)", cmd.name, want))
	}
	i, ok := s.message(cmd.args[0])
	if !ok {
		return s.refuse("-ERR No such message")
	}
	bodyLines := -1
	if cmd.name == "TOP" {
		n, ok := parseNumber(cmd.args[1])
		if !ok {
			return s.fail("-ERR Invalid line count")
		}
		bodyLines = n
	}
	m := &s.msgs[i]
	if cmd.name == "RETR" && !s.exactSizes(i) {
		return true
	}
	rc, err := s.srv.opts.Store.Open(s.ctx, s.mailbox.ID, m.uid)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return s.refuse("-ERR Message was removed by another session")
		}
		s.log.Error("pop3 opening message", "user", s.acct.Address, "uid", m.uid, "err", err)
		return s.refuse("-ERR [SYS/TEMP] Cannot read message, try again later")
	}
	defer rc.Close()
	if cmd.name == "RETR" {
		s.reply("+OK %d octets", m.size)
	} else {
		s.reply("+OK")
	}
	if _, err := writeMessage(s.w, rc, bodyLines); err != nil {
		// The response has started; the only honest way out is to drop
		// the connection (nothing is deleted).
		s.log.Error("pop3 sending message", "user", s.acct.Address, "uid", m.uid, "err", err)
		s.logout("error sending message")
		return false
	}
	s.w.WriteString(".\r\n")
	if cmd.name == "RETR" {
		s.retrieved++
		if !m.seen {
			_, _, err := s.srv.opts.Store.SetFlags(s.ctx, s.mailbox.ID, store.UIDSet{{Start: m.uid, Stop: m.uid}},
				store.FlagsAdd, []string{`\Seen`}, 0)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("pop3 setting \\Seen", "user", s.acct.Address, "uid", m.uid, "err", err)
			} else {
				m.seen = true
			}
		}
	}
	return true
}

func (s *session) cmdDele(cmd command) bool {
	if len(cmd.args) != 1 {
		return s.fail("-ERR DELE needs one argument")
	}
	n, ok := parseNumber(cmd.args[0])
	if ok && n >= 1 && n <= len(s.msgs) && s.msgs[n-1].deleted {
		return s.refuse(fmt.Sprintf("-ERR Message %d already deleted", n))
	}
	i, ok := s.message(cmd.args[0])
	if !ok {
		return s.refuse("-ERR No such message")
	}
	s.msgs[i].deleted = true
	s.reply("+OK Message %d deleted", i+1)
	return true
}

func (s *session) cmdRset(cmd command) bool {
	if len(cmd.args) != 0 {
		return s.fail("-ERR RSET takes no arguments")
	}
	for i := range s.msgs {
		s.msgs[i].deleted = false
	}
	s.reply("+OK Mailbox has %d messages", len(s.msgs))
	return true
}

// cmdQuit enters the UPDATE state (RFC 1939 §6): the marked messages, and
// only those, are removed.
func (s *session) cmdQuit() bool {
	s.state = stateUpdate
	var set store.UIDSet
	left := 0
	for _, m := range s.msgs {
		if !m.deleted {
			left++
			continue
		}
		if n := len(set); n > 0 && set[n-1].Stop+1 == m.uid {
			set[n-1].Stop = m.uid
		} else {
			set = append(set, store.UIDRange{Start: m.uid, Stop: m.uid})
		}
	}
	if len(set) > 0 {
		if err := s.expunge(set); err != nil {
			s.log.Error("pop3 removing messages", "user", s.acct.Address, "err", err)
			s.reply("-ERR [SYS/TEMP] Some deleted messages not removed, try again later")
			s.flush()
			s.logout("quit, update failed")
			return false
		}
	}
	for _, m := range s.msgs {
		if m.deleted {
			s.deletedCount++
		}
	}
	s.srv.conns.Release(s.rawConn) // before the client can reconnect
	s.reply("+OK %s POP3 server signing off (%d messages left)", s.srv.opts.Hostname, left)
	s.flush()
	s.logout("quit")
	return false
}

// expunge removes exactly the messages in set: it flags them \Deleted and
// expunges only that set, so messages flagged \Deleted through IMAP stay.
// If the expunge fails the flags it added are taken back (RFC 1939 §6:
// on error no message may be removed).
func (s *session) expunge(set store.UIDSet) error {
	// Finish even if the server is shutting down: the client asked.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), storeTimeout)
	defer cancel()
	st := s.srv.opts.Store
	if _, _, err := st.SetFlags(ctx, s.mailbox.ID, set, store.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		return err
	}
	if _, err := st.Expunge(ctx, s.mailbox.ID, set); err != nil {
		var undo store.UIDSet
		for _, m := range s.msgs {
			if m.deleted && !m.hadDeleted {
				undo = append(undo, store.UIDRange{Start: m.uid, Stop: m.uid})
			}
		}
		if len(undo) > 0 {
			st.SetFlags(ctx, s.mailbox.ID, undo, store.FlagsRemove, []string{`\Deleted`}, 0)
		}
		return err
	}
	return nil
}

// writeMessage sends a message's content as a POP3 multi-line body
// (RFC 1939 §3): every line ends in CRLF (bare LF is converted) and a line
// starting with "." gets another "." in front. bodyLines < 0 sends
// everything; otherwise the header, the blank line and that many body
// lines (TOP). It returns the octets of content sent, not counting the
// stuffed dots: the size LIST reports. The terminating ".\r\n" is the
// caller's.
func writeMessage(w io.Writer, r io.Reader, bodyLines int) (int64, error) {
	return writeMessageBuf(w, r, bodyLines, 32<<10)
}

// writeMessageBuf is writeMessage reading bufSize bytes at a time; tests
// use a tiny buffer to exercise lines split across reads.
func writeMessageBuf(w io.Writer, r io.Reader, bodyLines, bufSize int) (int64, error) {
	br := bufio.NewReaderSize(r, bufSize)
	var n int64
	write := func(b []byte) error {
		_, err := w.Write(b)
		n += int64(len(b))
		return err
	}
	atStart := true    // the next byte starts a line
	inHeader := true   // before the blank line ending the header
	pendingCR := false // a CR ended the previous chunk of an unfinished line
	lineEmpty := true  // nothing but CRs seen yet on the current line
	sent := 0          // body lines sent
	for {
		if !inHeader && bodyLines >= 0 && sent >= bodyLines && atStart {
			return n, nil
		}
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if atStart && chunk[0] == '.' {
				if _, werr := w.Write([]byte{'.'}); werr != nil {
					return n, werr
				}
			}
			complete := chunk[len(chunk)-1] == '\n'
			content := chunk
			if complete {
				content = chunk[:len(chunk)-1]
			}
			if len(content) > 0 && pendingCR {
				// The held CR was not the end of the line.
				if err := write([]byte{'\r'}); err != nil {
					return n, err
				}
				pendingCR = false
			}
			if k := len(content); k > 0 && content[k-1] == '\r' {
				content = content[:k-1]
				pendingCR = true
			}
			for _, c := range content {
				if c != '\r' {
					lineEmpty = false
					break
				}
			}
			if err := write(content); err != nil {
				return n, err
			}
			if complete {
				pendingCR = false
				if err := write([]byte("\r\n")); err != nil {
					return n, err
				}
				if inHeader && lineEmpty {
					inHeader = false
				} else if !inHeader {
					sent++
				}
				atStart, lineEmpty = true, true
			} else {
				atStart = false
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if !atStart {
				// A last line without a line ending gets one: the
				// terminating "." must start a line.
				if pendingCR {
					// "\r" at EOF ends the line; it becomes the CRLF.
					pendingCR = false
				}
				if err := write([]byte("\r\n")); err != nil {
					return n, err
				}
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
