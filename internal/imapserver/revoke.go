package imapserver

import "time"

// Revoker tells a logged-in session that its account's access was revoked
// (disabled, password changed, removed): *revocation.Watcher.
type Revoker interface {
	// Watch calls end once if the account's access is revoked before
	// cancel; end must not block.
	Watch(accountID int64, end func()) (cancel func())
}

// byeRevoked ends a session whose account's access was revoked (RFC 9051
// §7.1.5: BYE, then the server closes the connection).
const byeRevoked = "BYE Access revoked: the account was disabled or its password changed"

// watchRevocation registers the logged-in session with the Revoker.
func (s *session) watchRevocation() {
	if s.srv.opts.Revoker == nil {
		return
	}
	s.revoked = make(chan struct{})
	s.unrevoke = s.srv.opts.Revoker.Watch(s.acct.ID, s.revoke)
}

// revoke is the Revoker's end function: like Shutdown's Interrupt, it
// wakes a session waiting for its client, which then says BYE; a command
// in progress finishes and the session ends before reading another.
func (s *session) revoke() {
	s.revokeOnce.Do(func() { close(s.revoked) })
	if s.waiting.Load() {
		s.raw.SetReadDeadline(time.Now())
	}
}

// isRevoked reports whether the account's access was revoked.
func (s *session) isRevoked() bool {
	select {
	case <-s.revoked: // nil before login: never ready
		return true
	default:
		return false
	}
}

// endBye is the BYE of a session the server ends (access revoked,
// shutdown), "" when it goes on. A revoked session's client may be
// sending a command: the session lingers (drain) so that the BYE is not
// lost to a reset.
func (s *session) endBye() string {
	switch {
	case s.isRevoked():
		s.linger = true
		return byeRevoked
	case s.srv.closing():
		return "BYE Server shutting down"
	}
	return ""
}
