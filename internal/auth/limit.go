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

// countFailure counts a failed login toward the hourly caps and reports
// whether username is over its own: then the answer waits the longest
// delay. A user name under attack from many IPs is slowed down this way,
// never locked (its owner can still log in). Exempt networks (a webmail,
// a load test on loopback) count toward neither.
func (a *Authenticator) countFailure(remote netip.Addr, username string) (slow bool) {
	if a.failureExempt(remote) {
		return false
	}
	a.hourly.Allow(remote.String())
	ok, _ := a.perUser.Allow(username)
	return !ok
}

func (a *Authenticator) failureExempt(remote netip.Addr) bool {
	for _, p := range a.opts.FailureExempt {
		if p.Contains(remote) {
			return true
		}
	}
	return false
}
