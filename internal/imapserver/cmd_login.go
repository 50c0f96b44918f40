package imapserver

import (
	"errors"

	"pochta/internal/auth"
	"pochta/internal/store"
)

// cmdLogin: LOGIN (RFC 9051 §6.2.3). Refused without TLS unless the
// Authenticator allows plaintext on this connection (RFC 9051 §11.1).
func (s *session) cmdLogin(tag string, p *parser, uid bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	user, err := p.astring()
	if err != nil {
		return "", err
	}
	if err := p.sp(); err != nil {
		return "", err
	}
	pass, err := p.astring()
	if err != nil {
		return "", err
	}
	if err := p.end(); err != nil {
		return "", err
	}
	return s.login(user, pass)
}

// login checks credentials and moves to the authenticated state.
func (s *session) login(user, pass string) (string, error) {
	if s.srv.opts.Auth == nil || !s.srv.opts.Auth.PlaintextAllowed(s.conn.RemoteAddr(), s.tlsActive) {
		return "", no("PRIVACYREQUIRED", "Use STARTTLS or port 993 before logging in")
	}
	acct, err := s.srv.opts.Auth.Login(s.ctx, user, pass, auth.AddrIP(s.conn.RemoteAddr()))
	if err != nil {
		return s.loginFailed(err)
	}
	return s.loggedIn(acct)
}

// loginFailed answers a failed LOGIN or AUTHENTICATE.
func (s *session) loginFailed(err error) (string, error) {
	s.errors++
	if errors.Is(err, auth.ErrInvalid) {
		s.srv.log.Info("login failed", s.logf()...)
		return "", no("AUTHENTICATIONFAILED", "Invalid credentials")
	}
	s.srv.log.Error("login error", append(s.logf(), "err", err)...)
	return "", no("UNAVAILABLE", "Authentication temporarily unavailable")
}

// loggedIn moves to the authenticated state as acct.
func (s *session) loggedIn(acct store.Account) (string, error) {
	s.acct = acct
	s.state = stateAuth
	s.errors = 0
	s.unwatch = watchFunc(s.srv.opts.Store, acct.ID, s.storeChanged)
	s.watchRevocation()
	s.srv.log.Info("login", s.logf()...)
	return "[CAPABILITY " + s.capabilities() + "] Logged in", nil
}
