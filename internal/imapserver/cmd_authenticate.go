package imapserver

import (
	"bytes"
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	"pochta/internal/auth"
	"pochta/internal/scram"
)

// cmdAuthenticate: AUTHENTICATE (RFC 9051 §6.2.2) with PLAIN (RFC 4616)
// or SCRAM-SHA-256[-PLUS] (RFC 5802, RFC 7677), with an optional initial
// response (SASL-IR, RFC 4959).
func (s *session) cmdAuthenticate(tag string, p *parser, uid bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	mech, err := p.keyword()
	if err != nil {
		return "", err
	}
	var ir string
	hasIR := false
	if p.accept(' ') {
		hasIR = true
		ir = p.takeWhile(func(c byte) bool { return c == '=' || c == '+' || c == '/' || isAtomChar(c) })
		if ir == "" {
			return "", errSyntax("bad initial response")
		}
	}
	if err := p.end(); err != nil {
		return "", err
	}
	var bindings scram.Bindings
	if mech != "PLAIN" {
		bindings = scram.ConnBindings(s.conn, s.srv.opts.TLSConfig)
		if s.srv.opts.Auth == nil || !slices.Contains(s.srv.opts.Auth.SASLMechanisms(bindings), mech) {
			return "", no("CANNOT", "Unsupported authentication mechanism")
		}
	}
	if s.srv.opts.Auth == nil || !s.srv.opts.Auth.PlaintextAllowed(s.conn.RemoteAddr(), s.tlsActive) {
		return "", no("PRIVACYREQUIRED", "Use STARTTLS or port 993 before logging in")
	}
	var resp []byte
	if hasIR {
		if ir != "=" {
			if resp, err = base64.StdEncoding.DecodeString(ir); err != nil {
				return "", bad("", "Invalid base64")
			}
		}
	} else if resp, err = s.saslContinue(nil); err != nil {
		return saslAborted(err)
	}
	if mech != "PLAIN" {
		return s.authenticateSCRAM(mech, bindings, resp)
	}
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 {
		return "", bad("", "Invalid PLAIN response")
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && !strings.EqualFold(authz, user) {
		s.errors++
		return "", no("AUTHORIZATIONFAILED", "Cannot act as another user")
	}
	return s.login(user, pass)
}

// authenticateSCRAM runs a SCRAM exchange from the client's first
// message on. The server-final message goes out as a last challenge,
// answered by an empty line, since a tagged OK carries no SASL data.
func (s *session) authenticateSCRAM(mech string, bindings scram.Bindings, resp []byte) (string, error) {
	x, err := s.srv.opts.Auth.StartSASL(mech, bindings, auth.AddrIP(s.conn.RemoteAddr()))
	if err != nil {
		return "", no("CANNOT", "Unsupported authentication mechanism")
	}
	for {
		challenge, done, err := x.Next(s.ctx, resp)
		if err != nil {
			return s.loginFailed(err)
		}
		if done {
			return s.loggedIn(x.Account())
		}
		if resp, err = s.saslContinue(challenge); err != nil {
			if errors.Is(err, errSASLCancelled) {
				s.errors++ // an abandoned exchange is a failed login too
			}
			return saslAborted(err)
		}
	}
}

var (
	// errSASLLost: the connection failed while waiting for a response;
	// the session is over.
	errSASLLost = errors.New("connection lost during authentication")
	// errSASLCancelled: the client answered "*" (RFC 9051 §6.2.2).
	errSASLCancelled = errors.New("authentication cancelled")
	errSASLBase64    = errors.New("invalid base64")
)

// saslContinue sends a continuation request carrying challenge (base64;
// empty for none) and returns the client's decoded answer.
func (s *session) saslContinue(challenge []byte) ([]byte, error) {
	s.w.str("+ " + base64.StdEncoding.EncodeToString(challenge) + "\r\n")
	if err := s.flush(); err != nil {
		return nil, errSASLLost
	}
	line, err := s.cr.readLine(nil)
	if err != nil {
		// An over-long or lost response line ends the session, as
		// between commands (BYE where there is someone to tell).
		s.readFailed(err)
		s.state = stateLogout
		return nil, errSASLLost
	}
	switch string(line) {
	case "*":
		return nil, errSASLCancelled
	case "=": // RFC 4959's empty initial response; some clients send it here too
		return []byte{}, nil
	}
	resp, err := base64.StdEncoding.DecodeString(string(line))
	if err != nil {
		return nil, errSASLBase64
	}
	return resp, nil
}

// saslAborted turns a saslContinue error into the command's result.
func saslAborted(err error) (string, error) {
	switch err {
	case errSASLLost:
		return "", nil
	case errSASLCancelled:
		return "", bad("", "Authentication cancelled")
	}
	return "", bad("", "Invalid base64")
}
