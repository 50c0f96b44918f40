package imapserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pochta/internal/scram"
	"pochta/internal/store"
)

// state is the connection state (RFC 9051 §3).
type state int

const (
	stateNotAuth state = iota
	stateAuth
	stateSelected
	stateLogout
)

// session is one client connection.
type session struct {
	srv       *Server
	conn      net.Conn // current transport (TLS after STARTTLS)
	raw       net.Conn // the accepted connection; never replaced
	in        *wakeReader
	br        *bufio.Reader // nil while waiting for the client (awaitInput)
	cr        *commandReader
	w         *writer
	tlsActive bool
	compress  bool
	ctx       context.Context
	cancel    context.CancelFunc
	waiting   atomic.Bool // blocked reading the next command

	state   state
	acct    store.Account
	unwatch func()
	// revoked is closed when the account's access is revoked (revoke.go);
	// nil until login or without a Revoker.
	revoked    chan struct{}
	revokeOnce sync.Once
	unrevoke   func()
	sel        *selected
	errors     int
	// idling is the IDLE command waiting for the client's DONE; the
	// command loop waits for it (awaitDone) instead of the next command.
	idling *idleState

	// What the store reported (storeChanged, called in the store's
	// committing goroutine) since sendUpdates last looked, under wakeMu.
	wakeMu     sync.Mutex
	changed    []int64 // mailboxes changed, at most maxChanged
	changedAll bool    // more than maxChanged: any mailbox may have changed
	// idleMbox, when not 0, is the mailbox of an IDLE waiting for the
	// client: a change to it wakes the session (wakeLocked).
	idleMbox int64
	idleWake chan struct{} // with compression, the wake goes here
	// linger: the client may still be sending (an over-long line or
	// literal) when the session ends; close drains a bounded amount so
	// the final BYE is not lost to a TCP reset.
	linger bool

	// Extensions the client turned on with ENABLE (RFC 5161) or implied.
	rev2, utf8, condstore, qresync bool
}

func newSession(srv *Server, c net.Conn, tlsActive bool) *session {
	s := &session{srv: srv, conn: c, raw: c, tlsActive: tlsActive}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cr = &commandReader{maxAppend: srv.opts.Limits.IMAPLiteralSize, cont: s.continuation}
	s.setTransport(c)
	return s
}

// setTransport makes c the session's transport: the accepted connection,
// or TLS after STARTTLS. Nothing may be buffered from the old one.
func (s *session) setTransport(c net.Conn) {
	s.conn = c
	s.in = &wakeReader{r: c}
	s.releaseReader()
	s.w = newWriter(c, s.srv.writers)
}

// releaseReader returns the read buffer, which must be empty, to the pool.
func (s *session) releaseReader() {
	if s.br != nil {
		s.br.Reset(nil)
		s.srv.readers.Put(s.br)
		s.br, s.cr.r = nil, nil
	}
}

// awaitInput waits for the client's next bytes and makes sure the session
// has a read buffer. When nothing is buffered it waits without one (the
// buffer goes back to the pool), so a connection waiting for its next
// command or in IDLE holds no read buffer; only a compressed session keeps
// its reader chain.
func (s *session) awaitInput() error {
	if s.br != nil && (s.compress || s.br.Buffered() > 0) {
		return nil
	}
	s.releaseReader()
	if err := s.in.wait(); err != nil {
		return err
	}
	s.br = s.srv.readers.Get().(*bufio.Reader)
	s.br.Reset(s.in)
	s.cr.r = s.br
	return nil
}

// readCommand reads the next command (commandReader.read).
func (s *session) readCommand() ([]byte, error) {
	if err := s.awaitInput(); err != nil {
		return nil, err
	}
	return s.cr.read()
}

func (s *session) continuation() error {
	s.w.str("+ Ready for literal data\r\n")
	return s.flush()
}

func (s *session) flush() error {
	s.conn.SetWriteDeadline(time.Now().Add(s.srv.opts.Limits.CommandTimeout.Duration))
	return s.w.flush()
}

func (s *session) utf8Names() bool { return s.rev2 || s.utf8 }

func (s *session) interruptIfIdle() {
	if s.waiting.Load() {
		s.raw.SetReadDeadline(time.Now())
	}
}

func (s *session) logf() []any {
	args := []any{"remote", s.conn.RemoteAddr().String()}
	if s.acct.ID != 0 {
		args = append(args, "user", s.acct.Address)
	}
	return args
}

// serve runs the command loop until LOGOUT, an error or shutdown.
func (s *session) serve() {
	defer s.close()
	s.w.untagged("OK [CAPABILITY " + s.capabilities() + "] " + s.srv.opts.Hostname + " IMAP4rev2 server ready")
	if s.flush() != nil {
		return
	}
	for s.state != stateLogout {
		if s.idling != nil {
			s.awaitDone()
		} else if !s.nextCommand() {
			return
		}
		if s.flush() != nil {
			return
		}
		if s.errors >= s.srv.opts.Limits.MaxErrors {
			s.w.untagged("BYE Too many errors")
			s.flush()
			return
		}
	}
}

// nextCommand reads and runs the next command; it reports false when the
// session must end at once (its last words are written).
func (s *session) nextCommand() bool {
	timeout := s.srv.unauthTimeout
	if s.state != stateNotAuth {
		timeout = s.srv.opts.Limits.IMAPIdleTimeout.Duration
	}
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	s.waiting.Store(true)
	if bye := s.endBye(); bye != "" {
		s.w.untagged(bye)
		s.flush()
		return false
	}
	cmd, err := s.readCommand()
	s.waiting.Store(false)
	s.conn.SetReadDeadline(time.Now().Add(s.srv.opts.Limits.CommandTimeout.Duration))
	if err != nil {
		if !s.readFailed(err) {
			s.flush()
			return false
		}
	} else {
		onFreshStack(func() { s.execute(cmd) })
	}
	return true
}

// onFreshStack calls f on a goroutine of its own and waits for it.
// Commands grow their goroutine's stack (SQLite, TLS handshakes, message
// parsing) and a stack shrinks only slowly (halved at a garbage
// collection), while a session's own goroutine spends its life waiting
// for the client: so that goroutine only frames commands and keeps a
// small stack (2-4 KiB), and f's stack is freed when it returns. With
// 10,000 sessions in IDLE that is 40 MB less (8 KiB stacks before).
func onFreshStack(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

// readFailed handles a framing error; it reports whether to go on.
func (s *session) readFailed(err error) bool {
	var le *literalError
	switch {
	case errors.Is(err, errLineTooLong):
		s.w.untagged("BYE Command line too long")
		s.linger = true
		return false
	case errors.As(err, &le):
		s.errors++
		if !le.sync {
			s.w.untagged("BYE Literal too large")
			s.linger = true
			return false
		}
		if le.append {
			s.w.tagged(le.tag, "NO", "[TOOBIG] Message too large")
		} else {
			s.w.tagged(le.tag, "BAD", "Literal too large")
		}
		return true
	case errors.Is(err, errCommandTooLong):
		s.w.untagged("BYE Command too long")
		s.linger = true
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if bye := s.endBye(); bye != "" {
			s.w.untagged(bye)
		} else {
			s.w.untagged("BYE Autologout; idle for too long")
		}
	} else if err != io.EOF {
		s.srv.log.Debug("read failed", append(s.logf(), "err", err)...)
	}
	return false
}

func (s *session) close() {
	s.cancel()
	if s.compress {
		s.srv.compressed.Add(-1)
	}
	if s.unwatch != nil {
		s.unwatch()
	}
	if s.unrevoke != nil {
		s.unrevoke()
	}
	if s.linger {
		s.drain()
	}
	s.conn.Close()
}

// Bounds of the drain before closing a connection whose client is still
// sending.
const (
	lingerTime  = time.Second
	lingerBytes = 16 << 20
)

// drain half-closes the connection and discards what the client still
// sends, up to lingerBytes or lingerTime: closing a socket with unread
// input makes the kernel send a reset, which can destroy the BYE before
// the client reads it.
func (s *session) drain() {
	if cw, ok := s.raw.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	s.raw.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, io.LimitReader(s.raw, lingerBytes))
}

// imapError is a NO or BAD completion with an optional response code.
type imapError struct {
	status, code, text string
}

func (e *imapError) Error() string { return e.text }

func no(code, text string) error  { return &imapError{"NO", code, text} }
func bad(code, text string) error { return &imapError{"BAD", code, text} }

// storeError maps a store error to a completion that leaks no internals.
func (s *session) storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return no("NONEXISTENT", "No such mailbox")
	case errors.Is(err, store.ErrExists):
		return no("ALREADYEXISTS", "Mailbox already exists")
	case errors.Is(err, store.ErrOverQuota):
		return no("OVERQUOTA", "Quota exceeded")
	case errors.Is(err, store.ErrInvalidName):
		return no("CANNOT", "Invalid mailbox name")
	case errors.Is(err, store.ErrInUse):
		return no("INUSE", "Mailbox in use")
	}
	var ie *imapError
	if errors.As(err, &ie) {
		return ie
	}
	s.srv.log.Error("store error", append(s.logf(), "err", err)...)
	return no("SERVERBUG", "Internal error")
}

// handler runs one command; it returns the text of the tagged OK
// (optionally starting with a response code).
type handler func(tag string, p *parser, uid bool) (string, error)

// command describes how and when a command may run.
type command struct {
	fn     handler
	states []state
	// noExpunge: untagged EXPUNGE must not be sent while this command
	// runs with sequence numbers (RFC 9051 §7.5.3).
	noExpunge bool
	uidOK     bool // may follow "UID"
}

func (s *session) lookup(name string) (command, bool) {
	any := []state{stateNotAuth, stateAuth, stateSelected}
	notAuth := []state{stateNotAuth}
	authed := []state{stateAuth, stateSelected}
	sel := []state{stateSelected}
	switch name {
	case "CAPABILITY":
		return command{fn: s.cmdCapability, states: any}, true
	case "NOOP":
		return command{fn: s.cmdNoop, states: any}, true
	case "LOGOUT":
		return command{fn: s.cmdLogout, states: any}, true
	case "ID":
		return command{fn: s.cmdID, states: any}, true
	case "STARTTLS":
		return command{fn: s.cmdStartTLS, states: notAuth}, true
	case "LOGIN":
		return command{fn: s.cmdLogin, states: notAuth}, true
	case "AUTHENTICATE":
		return command{fn: s.cmdAuthenticate, states: notAuth}, true
	case "COMPRESS":
		return command{fn: s.cmdCompress, states: authed}, true
	case "ENABLE":
		return command{fn: s.cmdEnable, states: authed}, true
	case "NAMESPACE":
		return command{fn: s.cmdNamespace, states: authed}, true
	case "SELECT":
		return command{fn: s.cmdSelect, states: authed}, true
	case "EXAMINE":
		return command{fn: s.cmdExamine, states: authed}, true
	case "CREATE":
		return command{fn: s.cmdCreate, states: authed}, true
	case "DELETE":
		return command{fn: s.cmdDelete, states: authed}, true
	case "RENAME":
		return command{fn: s.cmdRename, states: authed}, true
	case "SUBSCRIBE":
		return command{fn: s.cmdSubscribe, states: authed}, true
	case "UNSUBSCRIBE":
		return command{fn: s.cmdUnsubscribe, states: authed}, true
	case "LIST":
		return command{fn: s.cmdList, states: authed}, true
	case "LSUB":
		return command{fn: s.cmdLsub, states: authed}, true
	case "STATUS":
		return command{fn: s.cmdStatus, states: authed}, true
	case "APPEND":
		return command{fn: s.cmdAppend, states: authed}, true
	case "IDLE":
		return command{fn: s.cmdIdle, states: authed}, true
	case "GETQUOTA":
		return command{fn: s.cmdGetQuota, states: authed}, true
	case "GETQUOTAROOT":
		return command{fn: s.cmdGetQuotaRoot, states: authed}, true
	case "CHECK":
		return command{fn: s.cmdCheck, states: sel}, true
	case "CLOSE":
		return command{fn: s.cmdClose, states: sel}, true
	case "UNSELECT":
		return command{fn: s.cmdUnselect, states: sel}, true
	case "EXPUNGE":
		return command{fn: s.cmdExpunge, states: sel, uidOK: true}, true
	case "SEARCH":
		return command{fn: s.cmdSearch, states: sel, noExpunge: true, uidOK: true}, true
	case "FETCH":
		return command{fn: s.cmdFetch, states: sel, noExpunge: true, uidOK: true}, true
	case "STORE":
		return command{fn: s.cmdStore, states: sel, noExpunge: true, uidOK: true}, true
	case "COPY":
		return command{fn: s.cmdCopy, states: sel, noExpunge: true, uidOK: true}, true
	case "MOVE":
		return command{fn: s.cmdMove, states: sel, uidOK: true}, true
	case "SORT":
		return command{fn: s.cmdSort, states: sel, noExpunge: true, uidOK: true}, true
	case "THREAD":
		return command{fn: s.cmdThread, states: sel, noExpunge: true, uidOK: true}, true
	}
	return command{}, false
}

// execute parses the tag and name of one framed command and runs it.
func (s *session) execute(b []byte) {
	p := newParser(b)
	tag, err := p.tag()
	if err != nil {
		s.errors++
		s.w.untagged("BAD Missing or invalid tag")
		return
	}
	if err := p.sp(); err != nil {
		s.errors++
		s.w.tagged(tag, "BAD", "Missing command")
		return
	}
	name, err := p.keyword()
	if err != nil {
		s.errors++
		s.w.tagged(tag, "BAD", "Missing command")
		return
	}
	uid := false
	if name == "UID" {
		uid = true
		if p.sp() != nil {
			s.errors++
			s.w.tagged(tag, "BAD", "Missing command after UID")
			return
		}
		if name, err = p.keyword(); err != nil {
			s.errors++
			s.w.tagged(tag, "BAD", "Missing command after UID")
			return
		}
	}
	cmd, ok := s.lookup(name)
	if !ok || (uid && !cmd.uidOK) {
		s.errors++
		s.w.tagged(tag, "BAD", "Unknown command")
		return
	}
	allowed := false
	for _, st := range cmd.states {
		allowed = allowed || st == s.state
	}
	if !allowed {
		s.errors++
		switch s.state {
		case stateNotAuth:
			s.w.tagged(tag, "NO", "Log in first")
		default:
			s.w.tagged(tag, "BAD", "Command not valid in this state")
		}
		return
	}
	text, err := cmd.fn(tag, p, uid)
	if err == nil {
		s.sendUpdates(!cmd.noExpunge || uid)
		if text != "" {
			s.w.tagged(tag, "OK", text)
		}
		return
	}
	var se *syntaxError
	if errors.As(err, &se) {
		s.errors++
		s.w.tagged(tag, "BAD", se.msg)
		return
	}
	var ie *imapError
	if !errors.As(err, &ie) {
		ie = s.storeError(err).(*imapError)
	}
	if ie.status == "BAD" {
		s.errors++
	}
	text = ie.text
	if ie.code != "" {
		text = "[" + ie.code + "] " + text
	}
	s.w.tagged(tag, ie.status, text)
}

// capabilities lists what the server supports in the current state.
func (s *session) capabilities() string {
	caps := []string{"IMAP4rev1", "IMAP4rev2"}
	if s.state == stateNotAuth {
		plain := s.srv.opts.Auth != nil && s.srv.opts.Auth.PlaintextAllowed(s.conn.RemoteAddr(), s.tlsActive)
		if s.srv.opts.TLSConfig != nil && !s.tlsActive {
			caps = append(caps, "STARTTLS")
		}
		if plain {
			for _, m := range s.srv.opts.Auth.SASLMechanisms(scram.ConnBindings(s.conn, s.srv.opts.TLSConfig)) {
				caps = append(caps, "AUTH="+m)
			}
			caps = append(caps, "AUTH=PLAIN", "SASL-IR")
		} else {
			caps = append(caps, "LOGINDISABLED")
		}
	}
	caps = append(caps, "LITERAL+", "ENABLE", "ID", "IDLE", "NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT",
		"CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "ESEARCH", "SEARCHRES",
		"CONDSTORE", "QRESYNC", "QUOTA", "QUOTA=RES-STORAGE", "SORT", "SORT=DISPLAY",
		"THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "STATUS=SIZE", "UTF8=ACCEPT", "BINARY",
		"APPENDLIMIT="+strconv.FormatInt(s.srv.opts.Limits.IMAPLiteralSize, 10))
	if !s.compress && s.state != stateNotAuth {
		caps = append(caps, "COMPRESS=DEFLATE")
	}
	return strings.Join(caps, " ")
}
