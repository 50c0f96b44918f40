package pop3server

import (
	"encoding/base64"
	"errors"

	"pochta/internal/scram"
)

// mechanisms lists the SASL mechanisms offered on this connection, best
// first (CAPA's SASL line, RFC 5034 §6): SCRAM-SHA-256-PLUS only over
// TLS, then SCRAM-SHA-256, then PLAIN.
func (s *session) mechanisms() []string {
	m := s.srv.opts.Auth.SASLMechanisms(scram.ConnBindings(s.conn, s.srv.opts.TLSConfig))
	return append(m, "PLAIN")
}

// authSCRAM runs a SCRAM exchange from the client's first message on.
// server-final goes out as a last challenge, answered by an empty line
// (RFC 5034 §4 has no success data).
func (s *session) authSCRAM(mech string, bindings scram.Bindings, resp []byte) bool {
	x, err := s.srv.opts.Auth.StartSASL(mech, bindings, s.ip)
	if err != nil {
		return s.fail("-ERR Unsupported authentication mechanism")
	}
	for {
		challenge, done, err := x.Next(s.ctx, resp)
		if err != nil {
			return s.loginFailed("", mech, err)
		}
		if done {
			return s.loggedIn(x.Account(), mech)
		}
		if resp, err = s.saslContinue(challenge); err != nil {
			return s.saslAborted(err)
		}
	}
}

// saslError is a failed continuation, with the reply to send.
type saslError string

func (e saslError) Error() string { return string(e) }

// errSASLLost: the connection failed while waiting for a response.
var errSASLLost = errors.New("connection lost during authentication")

// saslContinue sends a continuation carrying challenge (RFC 5034 §4:
// "+ " and base64, empty for none) and returns the decoded answer.
func (s *session) saslContinue(challenge []byte) ([]byte, error) {
	s.reply("+ %s", base64.StdEncoding.EncodeToString(challenge))
	if err := s.flush(); err != nil {
		return nil, errSASLLost
	}
	s.armRead()
	line, tooLong, err := s.readLine(maxSASLLine)
	switch {
	case err != nil:
		return nil, errSASLLost
	case tooLong:
		return nil, saslError("-ERR Authentication response too long")
	case line == "*":
		return nil, saslError("-ERR Authentication cancelled")
	case line == "=": // an empty response, as some clients send it
		return []byte{}, nil
	}
	resp, err := base64.StdEncoding.DecodeString(line)
	if err != nil {
		return nil, saslError("-ERR Invalid base64 in authentication response")
	}
	return resp, nil
}

// saslAborted ends an AUTH whose continuation failed.
func (s *session) saslAborted(err error) bool {
	var se saslError
	if errors.As(err, &se) {
		return s.fail(string(se))
	}
	return false
}
