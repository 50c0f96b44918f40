package managesieve

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
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"pochta/internal/auth"
	"pochta/internal/conntrack"
	"pochta/internal/sieve"
	"pochta/internal/store"
)

const (
	writeTimeout = 2 * time.Minute
	storeTimeout = 30 * time.Second
)

type session struct {
	srv     *Server
	rawConn net.Conn
	conn    net.Conn
	ip      netip.Addr
	r       *bufio.Reader
	w       *bufio.Writer
	log     *slog.Logger
	ctx     context.Context

	tls    bool
	acct   *store.Account
	errors int

	mu          sync.Mutex
	interrupted bool
	revoked     bool   // the account's access was revoked (revoke.go)
	unrevoke    func() // cancels the Revoker's Watch
}

func newSession(srv *Server, conn net.Conn, ip netip.Addr) *session {
	return &session{
		srv: srv, rawConn: conn, conn: conn, ip: ip,
		r:   bufio.NewReaderSize(conn, 4096),
		w:   bufio.NewWriterSize(conntrack.DeadlineWriter{Conn: conn, Timeout: writeTimeout}, 8192),
		log: srv.log.With("remote", conn.RemoteAddr().String()),
		ctx: srv.conns.Context(),
	}
}

// Interrupt wakes a session waiting for its next command (Shutdown).
func (s *session) Interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interrupted = true
	s.rawConn.SetReadDeadline(time.Now())
}

func (s *session) armRead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.interrupted {
		return true
	}
	s.rawConn.SetReadDeadline(time.Now().Add(s.srv.opts.IdleTimeout))
	return false
}

// Serve runs the session until LOGOUT, an error or shutdown.
func (s *session) Serve() {
	defer s.rawConn.Close()
	defer s.stopRevocation()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("managesieve session panic", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	s.capabilities()
	s.ok("", "pochta ManageSieve ready")
	if s.w.Flush() != nil {
		return
	}
	for {
		if s.armRead() {
			s.endBye()
			return
		}
		c, err := readCommand(s.r)
		var bad *badCommand
		switch {
		case errors.As(err, &bad):
			if !s.fail("", bad.msg) || s.w.Flush() != nil {
				return
			}
			continue
		case errors.Is(err, errTooLong):
			s.bye("", "Line or literal too long")
			return
		case err != nil:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if s.armRead() {
					s.endBye()
				} else {
					s.bye("", "Idle for too long")
				}
			}
			return
		}
		if !s.dispatch(c) {
			s.w.Flush()
			return
		}
		if s.w.Flush() != nil {
			return
		}
	}
}

func (s *session) line(kind, code, text string) {
	s.w.WriteString(kind)
	if code != "" {
		s.w.WriteString(" (" + code + ")")
	}
	if text != "" {
		s.w.WriteString(" " + quote(text))
	}
	s.w.WriteString("\r\n")
}

func (s *session) ok(code, text string) { s.line("OK", code, text) }
func (s *session) no(code, text string) { s.line("NO", code, text) }
func (s *session) bye(code, text string) {
	s.line("BYE", code, text)
	s.w.Flush()
}

// fail answers NO and counts the error; false ends the session.
func (s *session) fail(code, text string) bool {
	s.no(code, text)
	s.errors++
	if s.errors >= s.srv.opts.MaxErrors {
		s.bye("", "Too many errors")
		return false
	}
	return true
}

// capabilities writes the capability list (RFC 5804 §1.7).
func (s *session) capabilities() {
	cap := func(k, v string) {
		s.w.WriteString(quote(k))
		if v != "" || k == "SASL" {
			s.w.WriteString(" " + quote(v))
		}
		s.w.WriteString("\r\n")
	}
	cap("IMPLEMENTATION", "pochta")
	sasl := ""
	if s.acct == nil && s.srv.opts.Auth != nil && s.srv.opts.Auth.PlaintextAllowed(s.rawConn.RemoteAddr(), s.tls) {
		sasl = "PLAIN"
	}
	cap("SASL", sasl)
	cap("SIEVE", strings.Join(sieve.Extensions, " "))
	if s.srv.opts.TLSConfig != nil && !s.tls {
		cap("STARTTLS", "")
	}
	cap("MAXREDIRECTS", fmt.Sprint(sieve.MaxRedirects))
	cap("UNAUTHENTICATE", "")
	if s.acct != nil {
		cap("OWNER", s.acct.Address)
	}
	cap("VERSION", "1.0")
}

// argsAre checks the argument count and that all are strings.
func argsAre(c command, n int) bool {
	if len(c.args) != n {
		return false
	}
	for _, a := range c.args {
		if a.atom {
			return false
		}
	}
	return true
}

func (s *session) dispatch(c command) bool {
	switch c.name {
	case "LOGOUT":
		s.ok("", "Bye")
		return false
	case "CAPABILITY":
		s.capabilities()
		s.ok("", "Capability completed")
		return true
	case "NOOP":
		if len(c.args) == 1 && !c.args[0].atom {
			s.ok("TAG "+quote(c.args[0].s), "Done")
		} else {
			s.ok("", "Done")
		}
		return true
	case "STARTTLS":
		return s.startTLS()
	case "AUTHENTICATE":
		return s.authenticate(c)
	}
	if s.acct == nil {
		switch c.name {
		case "PUTSCRIPT", "LISTSCRIPTS", "SETACTIVE", "GETSCRIPT", "DELETESCRIPT", "RENAMESCRIPT", "CHECKSCRIPT", "HAVESPACE", "UNAUTHENTICATE":
			return s.fail("", "Authenticate first")
		}
		return s.fail("", "Unknown command "+truncate(c.name))
	}
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	id := s.acct.ID
	st := s.srv.opts.Store
	switch c.name {
	case "UNAUTHENTICATE": // RFC 5804 §2.14.1
		s.log.Info("managesieve logout", "user", s.acct.Address)
		s.acct = nil
		s.stopRevocation()
		s.ok("", "Unauthenticated")
	case "LISTSCRIPTS":
		list, err := st.SieveScripts(ctx, id)
		if err != nil {
			return s.storeErr(err)
		}
		for _, sc := range list {
			s.w.WriteString(quote(sc.Name))
			if sc.Active {
				s.w.WriteString(" ACTIVE")
			}
			s.w.WriteString("\r\n")
		}
		s.ok("", "Listscripts completed")
	case "HAVESPACE":
		if len(c.args) != 2 || c.args[0].atom || !c.args[1].isNum {
			return s.fail("", "Usage: HAVESPACE name size")
		}
		if c.args[1].n > maxScriptSize {
			s.no("QUOTA/MAXSIZE", fmt.Sprintf("Scripts are limited to %d bytes", maxScriptSize))
			return true
		}
		if code, msg, err := s.roomFor(ctx, c.args[0].s); err != nil {
			return s.storeErr(err)
		} else if code != "" {
			s.no(code, msg)
			return true
		}
		s.ok("", "Putscript would succeed")
	case "CHECKSCRIPT":
		if !argsAre(c, 1) {
			return s.fail("", "Usage: CHECKSCRIPT script")
		}
		if _, err := sieve.Parse(c.args[0].s); err != nil {
			s.no("", err.Error())
			return true
		}
		s.ok("", "Script is valid")
	case "PUTSCRIPT":
		if !argsAre(c, 2) {
			return s.fail("", "Usage: PUTSCRIPT name script")
		}
		name, content := c.args[0].s, c.args[1].s
		if len(content) > maxScriptSize {
			s.no("QUOTA/MAXSIZE", fmt.Sprintf("Scripts are limited to %d bytes", maxScriptSize))
			return true
		}
		if _, err := sieve.Parse(content); err != nil {
			s.no("", err.Error())
			return true
		}
		if code, msg, err := s.roomFor(ctx, name); err != nil {
			return s.storeErr(err)
		} else if code != "" {
			s.no(code, msg)
			return true
		}
		if err := st.PutSieveScript(ctx, id, name, content); err != nil {
			return s.storeErr(err)
		}
		s.log.Info("managesieve putscript", "user", s.acct.Address, "script", name, "bytes", len(content))
		s.ok("", "Putscript completed")
	case "SETACTIVE":
		if !argsAre(c, 1) {
			return s.fail("", "Usage: SETACTIVE name")
		}
		if err := st.ActivateSieveScript(ctx, id, c.args[0].s); err != nil {
			return s.storeErr(err)
		}
		s.log.Info("managesieve setactive", "user", s.acct.Address, "script", c.args[0].s)
		s.ok("", "Setactive completed")
	case "GETSCRIPT":
		if !argsAre(c, 1) {
			return s.fail("", "Usage: GETSCRIPT name")
		}
		sc, err := st.GetSieveScript(ctx, id, c.args[0].s)
		if err != nil {
			return s.storeErr(err)
		}
		fmt.Fprintf(s.w, "{%d}\r\n%s\r\n", len(sc.Content), sc.Content)
		s.ok("", "Getscript completed")
	case "DELETESCRIPT":
		if !argsAre(c, 1) {
			return s.fail("", "Usage: DELETESCRIPT name")
		}
		if err := st.DeleteSieveScript(ctx, id, c.args[0].s); err != nil {
			return s.storeErr(err)
		}
		s.ok("", "Deletescript completed")
	case "RENAMESCRIPT":
		if !argsAre(c, 2) {
			return s.fail("", "Usage: RENAMESCRIPT oldname newname")
		}
		if err := st.RenameSieveScript(ctx, id, c.args[0].s, c.args[1].s); err != nil {
			return s.storeErr(err)
		}
		s.ok("", "Renamescript completed")
	default:
		return s.fail("", "Unknown command "+truncate(c.name))
	}
	return true
}

// roomFor checks the script count quota for a new script name.
func (s *session) roomFor(ctx context.Context, name string) (code, msg string, err error) {
	list, err := s.srv.opts.Store.SieveScripts(ctx, s.acct.ID)
	if err != nil {
		return "", "", err
	}
	for _, sc := range list {
		if sc.Name == name {
			return "", "", nil
		}
	}
	if len(list) >= s.srv.opts.MaxScripts {
		return "QUOTA/MAXSCRIPTS", fmt.Sprintf("At most %d scripts", s.srv.opts.MaxScripts), nil
	}
	return "", "", nil
}

// storeErr answers a store error with the RFC 5804 §1.3 response code.
// These are answers, not client mistakes: they do not count as errors.
func (s *session) storeErr(err error) bool {
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.no("NONEXISTENT", "No such script")
	case errors.Is(err, store.ErrExists):
		s.no("ALREADYEXISTS", "A script with that name exists")
	case errors.Is(err, store.ErrInUse):
		s.no("ACTIVE", "The active script cannot be deleted")
	case errors.Is(err, store.ErrInvalidName):
		s.no("", "Invalid script name")
	default:
		s.log.Error("managesieve store error", "err", err)
		s.no("TRYLATER", "Temporary failure, try again later")
	}
	return true
}

func (s *session) startTLS() bool {
	if s.srv.opts.TLSConfig == nil || s.tls || s.acct != nil { // RFC 5804 §2.2: before AUTHENTICATE only
		return s.fail("", "STARTTLS not available")
	}
	s.ok("", "Begin TLS negotiation now")
	if s.w.Flush() != nil {
		return false
	}
	if s.r.Buffered() > 0 { // commands pipelined before the handshake: injection
		s.log.Warn("managesieve: data after STARTTLS before the handshake")
		return false
	}
	tc := tls.Server(s.rawConn, s.srv.opts.TLSConfig)
	s.rawConn.SetDeadline(time.Now().Add(30 * time.Second))
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.log.Info("managesieve TLS handshake failed", "err", err)
		return false
	}
	s.rawConn.SetDeadline(time.Time{})
	s.conn = tc
	s.tls = true
	s.r.Reset(tc)
	s.w.Reset(conntrack.DeadlineWriter{Conn: tc, Timeout: writeTimeout})
	// RFC 5804 §2.2: capabilities again after TLS.
	s.capabilities()
	s.ok("", "TLS active")
	return true
}

// authenticate runs SASL PLAIN (RFC 4616), with or without an initial
// response (RFC 5804 §2.1).
func (s *session) authenticate(c command) bool {
	if s.acct != nil {
		return s.fail("", "Already authenticated")
	}
	if len(c.args) < 1 || len(c.args) > 2 || c.args[0].atom || !strings.EqualFold(c.args[0].s, "PLAIN") {
		return s.fail("", "Only SASL PLAIN is supported")
	}
	if s.srv.opts.Auth == nil || !s.srv.opts.Auth.PlaintextAllowed(s.rawConn.RemoteAddr(), s.tls) {
		return s.fail("ENCRYPT-NEEDED", "Use STARTTLS first")
	}
	var resp string
	if len(c.args) == 2 {
		resp = c.args[1].s
	} else {
		s.w.WriteString("\"\"\r\n")
		if s.w.Flush() != nil {
			return false
		}
		s.armRead()
		line, err := readLine(s.r)
		if err != nil {
			return false
		}
		if line == `"*"` || line == "*" {
			return s.fail("", "Authentication cancelled")
		}
		if strings.HasPrefix(line, "{") { // a literal
			cmd, err := readCommand(bufio.NewReader(io.MultiReader(strings.NewReader("X "+line+"\r\n"), s.r)))
			if err != nil || len(cmd.args) != 1 {
				return s.fail("", "Bad SASL response")
			}
			line = cmd.args[0].s
		}
		resp = strings.Trim(line, `"`)
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return s.fail("", "Bad base64 in the SASL response")
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || (parts[0] != "" && !strings.EqualFold(parts[0], parts[1])) {
		return s.fail("", "Bad PLAIN response")
	}
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	acct, err := s.srv.opts.Auth.Login(ctx, parts[1], parts[2], s.ip)
	if err != nil {
		if errors.Is(err, auth.ErrInvalid) {
			s.log.Info("managesieve login failed", "user", truncate(parts[1]))
			return s.fail("", "Authentication failed")
		}
		s.log.Error("managesieve login error", "err", err)
		s.no("TRYLATER", "Temporary authentication failure")
		return true
	}
	s.acct = &acct
	s.watchRevocation()
	s.log.Info("managesieve login", "user", acct.Address, "tls", s.tls)
	s.ok("", "Logged in")
	return true
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
