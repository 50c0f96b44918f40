package imapserver

import (
	"crypto/tls"
	"time"
)

// cmdStartTLS: STARTTLS (RFC 9051 §6.2.1). Anything the client pipelined
// after the command is refused (it could be injected in plaintext).
func (s *session) cmdStartTLS(tag string, p *parser, uid bool) (string, error) {
	if err := p.end(); err != nil {
		return "", err
	}
	if s.srv.opts.TLSConfig == nil || s.tlsActive {
		return "", bad("", "TLS not available")
	}
	if s.br.Buffered() > 0 {
		s.state = stateLogout
		return "", bad("", "Data after STARTTLS")
	}
	s.w.tagged(tag, "OK", "Begin TLS negotiation now")
	if err := s.flush(); err != nil {
		return "", err
	}
	tc := tls.Server(s.conn, s.srv.opts.TLSConfig)
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		s.state = stateLogout
		return "", nil
	}
	tc.SetDeadline(time.Time{})
	s.tlsActive = true
	s.setTransport(tc)
	return "", nil
}
