package managesieve

// Revoker tells a logged-in session that its account's access was revoked
// (disabled, password changed, removed): *revocation.Watcher.
type Revoker interface {
	// Watch calls end once if the account's access is revoked before
	// cancel; end must not block.
	Watch(accountID int64, end func()) (cancel func())
}

// watchRevocation registers the session, just logged in, with the
// Revoker.
func (s *session) watchRevocation() {
	if s.srv.opts.Revoker != nil {
		s.unrevoke = s.srv.opts.Revoker.Watch(s.acct.ID, s.revoke)
	}
}

// stopRevocation cancels watchRevocation (UNAUTHENTICATE, the end).
func (s *session) stopRevocation() {
	if s.unrevoke != nil {
		s.unrevoke()
		s.unrevoke = nil
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

// endBye says BYE (RFC 5804 §1.3) for the reason the server ends the
// session: its access revoked, or Shutdown.
func (s *session) endBye() {
	s.mu.Lock()
	revoked := s.revoked
	s.mu.Unlock()
	if revoked {
		s.bye("", "Access revoked: the account was disabled or its password changed")
		return
	}
	s.bye("", "Server shutting down")
}
