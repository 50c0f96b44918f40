package auth

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrTooManyFailures is returned, without checking the password, to a
// client IP that failed MaxFailuresPerHour logins within the last hour. It
// wraps ErrInvalid, so protocols that only know ErrInvalid answer it as a
// failed login; SMTP closes the session with 421 4.7.0.
var ErrTooManyFailures = fmt.Errorf("%w: too many failed logins from this address", ErrInvalid)

// ErrTooManyLogins is returned for a right password when the account has
// used up its logins this minute (MaxLoginsPerMinute): a temporary
// failure (IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP], SMTP 454), never a
// wrong-password answer, so a client retries instead of asking its user.
var ErrTooManyLogins = errors.New("auth: too many logins for this account, try again later")

// countLogin counts a successful login of account from remote toward the
// per-minute cap: a stolen password used from many connections at once is
// slowed down. Exempt networks (a webmail, a
// load test on loopback) are not counted.
func (a *Authenticator) countLogin(remote netip.Addr, account string) error {
	if a.failureExempt(remote) {
		return nil
	}
	if ok, _ := a.perLogin.Allow(account); !ok {
		return ErrTooManyLogins // the protocol servers log it, with the address
	}
	return nil
}

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
