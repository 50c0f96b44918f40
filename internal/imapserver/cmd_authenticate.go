package imapserver

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// cmdAuthenticate: AUTHENTICATE PLAIN (RFC 9051 §6.2.2, RFC 4616) with an
// optional initial response (SASL-IR, RFC 4959).
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
	if mech != "PLAIN" {
		return "", no("CANNOT", "Unsupported authentication mechanism")
	}
	if s.srv.opts.Auth == nil || !s.srv.opts.Auth.PlaintextAllowed(s.conn.RemoteAddr(), s.tlsActive) {
		return "", no("PRIVACYREQUIRED", "Use STARTTLS or port 993 before logging in")
	}
	if !hasIR {
		s.w.str("+ \r\n")
		if err := s.flush(); err != nil {
			return "", err
		}
		line, err := s.cr.readLine(nil)
		if err != nil {
			// An over-long or lost response line ends the session, as
			// between commands (BYE where there is someone to tell).
			s.readFailed(err)
			s.state = stateLogout
			return "", nil
		}
		ir = string(line)
	}
	if ir == "*" {
		return "", bad("", "Authentication cancelled")
	}
	if ir == "=" {
		ir = ""
	}
	raw, err := base64.StdEncoding.DecodeString(ir)
	if err != nil {
		return "", bad("", "Invalid base64")
	}
	parts := bytes.Split(raw, []byte{0})
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
