package pop3server

// Revoker tells a logged-in session that its account's access was revoked
// (disabled, password changed, removed): *revocation.Watcher.
type Revoker interface {
	// Watch calls end once if the account's access is revoked before
	// cancel; end must not block.
	Watch(accountID int64, end func()) (cancel func())
}

// watchRevocation registers the logged-in session with the Revoker.
func (s *session) watchRevocation() {
	if s.srv.opts.Revoker != nil {
		s.unrevoke = s.srv.opts.Revoker.Watch(s.acct.ID, s.revoke)
	}
}

// revoke is the Revoker's end function: like Interrupt, it wakes a
// session waiting for its next command, and one in the middle of a
// command sees it before reading another.
func (s *session) revoke() {
	s.mu.Lock()
	s.revoked = true
	s.mu.Unlock()
	s.Interrupt()
}

func (s *session) isRevoked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revoked
}

// endNotice is the last word of a session the server ends: its access
// revoked, or Shutdown. Neither enters the UPDATE state, so nothing
// marked with DELE is deleted (RFC 1939 §6).
func (s *session) endNotice() {
	if !s.isRevoked() {
		s.shutdownNotice()
		return
	}
	s.reply("-ERR [AUTH] Access revoked: the account was disabled or its password changed, no messages deleted")
	s.flush()
	if s.state == stateTransaction {
		s.logout("access revoked")
	}
}
