package imapserver

import (
	"errors"
	"net"
	"strings"
	"time"
)

// idleState is an IDLE command waiting for the client's DONE.
type idleState struct {
	tag   string
	until time.Time // autologout (Limits.IMAPIdleTimeout)
}

// cmdIdle: IDLE (RFC 2177, RFC 9051 §6.3.13). It only answers the
// continuation; the command loop then waits for DONE (awaitDone) on the
// session's own goroutine, near the bottom of its stack, and pushes
// updates as the store reports commits (storeChanged wakes it). So a
// session in IDLE is one parked goroutine with a small stack, no read or
// write buffer, no timer and no channel.
func (s *session) cmdIdle(tag string, p *parser, uid bool) (string, error) {
	if err := p.end(); err != nil {
		return "", err
	}
	if s.sel != nil {
		s.sel.dirty = true
		s.sendUpdates(true)
	}
	s.w.str("+ idling\r\n")
	s.idling = &idleState{tag: tag, until: time.Now().Add(s.srv.opts.Limits.IMAPIdleTimeout.Duration)}
	return "", nil
}

// awaitDone waits for the DONE that ends IDLE and completes the command;
// on a timeout, shutdown or a broken connection it says BYE (when it can)
// and ends the session.
func (s *session) awaitDone() {
	st := s.idling
	s.idling = nil
	var line []byte
	var err error
	if s.compress {
		line, err = s.idleCompressed(st)
	} else {
		line, err = s.idleWait(st)
	}
	switch {
	case errors.Is(err, errIdleOver):
		s.state = stateLogout
	case err != nil:
		s.readFailed(err) // BYE for an over-long line
		s.state = stateLogout
	case !strings.EqualFold(strings.TrimSpace(string(line)), "DONE"):
		s.errors++
		s.w.tagged(st.tag, "BAD", "Expected DONE")
	default:
		onFreshStack(func() { s.sendUpdates(true) })
		s.w.tagged(st.tag, "OK", "IDLE terminated")
	}
}

// errIdleOver: IDLE ended without DONE; the BYE is written.
var errIdleOver = errors.New("idle over")

// idleMailbox is the mailbox whose changes wake IDLE (-1: none selected,
// no mailbox has that ID).
func (s *session) idleMailbox() int64 {
	if s.sel == nil {
		return -1
	}
	return s.sel.mbox.ID
}

// idleEnd writes the BYE that ends IDLE for the reason at hand.
func (s *session) idleEnd() error {
	if bye := s.endBye(); bye != "" {
		s.w.untagged(bye)
	} else {
		s.w.untagged("BYE Autologout; idle for too long")
	}
	return errIdleOver
}

// idleWait returns the client's next line, sending updates
// whenever storeChanged wakes it: the read's deadline is the autologout
// time, and a wake (or Shutdown's Interrupt) sets it to now.
func (s *session) idleWait(st *idleState) ([]byte, error) {
	mbox := s.idleMailbox()
	for {
		s.conn.SetReadDeadline(st.until)
		s.waiting.Store(true) // Shutdown interrupts (interruptIfIdle)
		changed := s.setIdleMbox(mbox, nil)
		var err error
		if s.endBye() != "" {
			err = errIdleOver
		} else if !changed {
			err = s.awaitInput()
		}
		s.setIdleMbox(0, nil)
		s.waiting.Store(false)
		if err == nil && !changed {
			s.conn.SetReadDeadline(time.Now().Add(s.srv.opts.Limits.CommandTimeout.Duration))
			return s.cr.readLine(nil)
		}
		var ne net.Error
		if err != nil && !errors.Is(err, errIdleOver) && (!errors.As(err, &ne) || !ne.Timeout()) {
			return nil, err
		}
		if s.endBye() != "" || !time.Now().Before(st.until) {
			return nil, s.idleEnd()
		}
		onFreshStack(func() { s.sendUpdates(true) })
		if s.flush() != nil {
			return nil, errIdleOver
		}
	}
}

// idleCompressed is idleWait for a session with COMPRESS=DEFLATE: the
// inflater cannot be interrupted by a deadline, so one more goroutine
// reads the client's line while this one waits for wakes (at most
// maxCompressed sessions are compressed).
func (s *session) idleCompressed(st *idleState) ([]byte, error) {
	s.conn.SetReadDeadline(st.until.Add(time.Minute))
	type lineResult struct {
		line []byte
		err  error
	}
	lines := make(chan lineResult, 1)
	go func() {
		l, err := s.cr.readLine(nil)
		lines <- lineResult{l, err}
	}()
	wake := make(chan struct{}, 1)
	if s.setIdleMbox(s.idleMailbox(), wake) {
		wake <- struct{}{}
	}
	defer s.setIdleMbox(0, nil)
	timer := time.NewTimer(time.Until(st.until))
	defer timer.Stop()
	for {
		select {
		case r := <-lines:
			return r.line, r.err
		case <-wake:
			s.sendUpdates(true)
			if s.flush() != nil {
				return nil, errIdleOver
			}
		case <-timer.C:
			return nil, s.idleEnd()
		case <-s.srv.conns.Done():
			return nil, s.idleEnd()
		case <-s.revoked:
			return nil, s.idleEnd()
		}
	}
}
