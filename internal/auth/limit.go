package auth

import (
	"fmt"
	"net/netip"
)

// ErrTooManyFailures is returned, without checking the password, to a
// client IP that failed MaxFailuresPerHour logins within the last hour. It
// wraps ErrInvalid, so protocols that only know ErrInvalid answer it as a
// failed login; SMTP closes the session with 421 4.7.0.
var ErrTooManyFailures = fmt.Errorf("%w: too many failed logins from this address", ErrInvalid)

// capped reports whether remote has used up its failed logins this hour.
func (a *Authenticator) capped(remote netip.Addr) bool {
	return !a.failureExempt(remote) && a.hourly.Exceeded(remote.String())
}

// countFailure counts a failed login toward the hourly cap.
func (a *Authenticator) countFailure(remote netip.Addr) {
	if !a.failureExempt(remote) {
		a.hourly.Allow(remote.String())
	}
}

func (a *Authenticator) failureExempt(remote netip.Addr) bool {
	for _, p := range a.opts.FailureExempt {
		if p.Contains(remote) {
			return true
		}
	}
	return false
}
