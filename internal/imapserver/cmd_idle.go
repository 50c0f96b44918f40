package imapserver

import (
	"strings"
	"time"
)

// cmdIdle: IDLE (RFC 2177, RFC 9051 §6.3.13). Updates are pushed as the
// store reports commits; the only extra goroutine reads the client's DONE.
func (s *session) cmdIdle(tag string, p *parser, uid bool) (string, error) {
	if err := p.end(); err != nil {
		return "", err
	}
	if s.sel != nil {
		s.sel.dirty = true
		s.sendUpdates(true)
	}
	s.w.str("+ idling\r\n")
	if err := s.flush(); err != nil {
		return "", err
	}
	timeout := s.srv.opts.Limits.IMAPIdleTimeout.Duration
	s.conn.SetReadDeadline(time.Now().Add(timeout + time.Minute))
	type lineResult struct {
		line []byte
		err  error
	}
	lines := make(chan lineResult, 1)
	go func() {
		// Until the client sends, this goroutine holds no read buffer
		// (awaitInput) and the session none to write (writer).
		if err := s.awaitInput(); err != nil {
			lines <- lineResult{nil, err}
			return
		}
		l, err := s.cr.readLine(nil)
		lines <- lineResult{l, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case r := <-lines:
			if r.err != nil {
				s.readFailed(r.err) // BYE for an over-long line
				s.state = stateLogout
				return "", nil
			}
			if !strings.EqualFold(strings.TrimSpace(string(r.line)), "DONE") {
				return "", bad("", "Expected DONE")
			}
			return "IDLE terminated", nil
		case ch, ok := <-s.watch:
			if !ok {
				s.watch = nil
				continue
			}
			if s.sel != nil && ch.MailboxID == s.sel.mbox.ID {
				s.sel.dirty = true
				s.sendUpdates(true)
				if err := s.flush(); err != nil {
					s.state = stateLogout
					return "", nil
				}
			}
		case <-timer.C:
			s.w.untagged("BYE Autologout; idle for too long")
			s.state = stateLogout
			return "", nil
		case <-s.srv.conns.Done():
			s.w.untagged("BYE Server shutting down")
			s.state = stateLogout
			return "", nil
		}
	}
}
