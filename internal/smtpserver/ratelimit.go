package smtpserver

import (
	"net/netip"
	"strings"
	"time"

	"pochta/internal/config"
	"pochta/internal/ratelimit"
	"pochta/internal/reply"
)

// Rates are the abuse limits of the SMTP services; one Rates is shared by
// the services of a server, so an account's messages count alike on 587
// and 465. Options.Rates nil means no rate limits.
type Rates struct {
	ConnectionsPerIP   *ratelimit.Window   // per minute, per client IP
	MessagesPerIP      *ratelimit.Window   // MAIL commands per minute, per client IP
	MessagesPerAccount *ratelimit.Window   // MAIL commands per minute, per authenticated account
	OutgoingMessages   *ratelimit.Window   // per day, per account: messages with a remote recipient
	OutgoingRecipients *ratelimit.Distinct // per day, per account: distinct remote recipients
	// Exempt networks (limits.connection_limit_exceptions) are spared the
	// per-IP and per-minute limits, not the daily outgoing ones.
	Exempt []netip.Prefix
}

// NewRates builds the limiters from l (zero values take the defaults).
// now nil means time.Now.
func NewRates(l config.Limits, now func() time.Time) *Rates {
	l = l.WithDefaults()
	o := ratelimit.Options{Now: now}
	const day = 24 * time.Hour
	return &Rates{
		ConnectionsPerIP:   ratelimit.NewWindow(l.ConnectionsPerMinutePerIP, time.Minute, o),
		MessagesPerIP:      ratelimit.NewWindow(l.MessagesPerMinutePerIP, time.Minute, o),
		MessagesPerAccount: ratelimit.NewWindow(l.MessagesPerMinutePerAccount, time.Minute, o),
		OutgoingMessages:   ratelimit.NewWindow(l.OutgoingMessagesPerDay, day, o),
		OutgoingRecipients: ratelimit.NewDistinct(l.OutgoingRecipientsPerDay, day, o),
		Exempt:             l.PerIPExempt(),
	}
}

// Replies. RFC 3463: X.7.0 (other security or policy status) for the
// per-minute limits, which end the session with 421 like the connection
// limits; X.7.1 (delivery not authorized) for the daily outgoing limits,
// as 451 since they clear with time (mox answers the same).
var (
	errOutgoingMessages   = reply.New(451, "4.7.1", "Daily limit of messages to other domains reached for this account, try again later")
	errOutgoingRecipients = reply.New(451, "4.7.1", "Daily limit of distinct recipients in other domains reached for this account, try again later")
)

// rateExempt reports whether the client is spared per-IP limits.
func (c *session) rateExempt() bool {
	for _, p := range c.s.opts.Rates.Exempt {
		if p.Contains(c.remote) {
			return true
		}
	}
	return false
}

// logRefusal logs a rate-limit refusal: the first of a key and then every
// power of two, so a flood costs few log lines yet shows its size.
func (c *session) logRefusal(limit, key string, refused, max int) {
	if refused&(refused-1) == 0 {
		c.s.log.Warn("rate limit", "limit", limit, "key", key, "ip", c.remote, "max", max, "refused", refused)
	}
}

// refuseRate answers 421 and ends the session (RFC 5321 §3.8).
func (c *session) refuseRate(text string) error {
	c.s.conns.Release(c.raw)
	c.reply(421, "4.7.0", c.s.opts.Hostname+" "+text+", closing connection")
	return errClose
}

// connectionRefused counts a new connection per IP per minute and, over
// the limit, answers 421 instead of the greeting.
func (c *session) connectionRefused() bool {
	r := c.s.opts.Rates
	if r == nil || c.rateExempt() {
		return false
	}
	ok, refused := r.ConnectionsPerIP.Allow(c.remote.String())
	if ok {
		return false
	}
	c.logRefusal("connections_per_minute_per_ip", c.remote.String(), refused, r.ConnectionsPerIP.Limit())
	c.refuseRate("Too many connections from your address per minute")
	return true
}

// checkMailRate counts a MAIL command per IP and per account per minute;
// over a limit the session ends with 421.
func (c *session) checkMailRate() error {
	r := c.s.opts.Rates
	if r == nil || c.rateExempt() {
		return nil
	}
	ip := c.remote.String()
	if ok, refused := r.MessagesPerIP.Allow(ip); !ok {
		c.logRefusal("messages_per_minute_per_ip", ip, refused, r.MessagesPerIP.Limit())
		return c.refuseRate("Too many messages from your address per minute")
	}
	if c.account != nil {
		if ok, refused := r.MessagesPerAccount.Allow(c.account.Address); !ok {
			c.logRefusal("messages_per_minute_per_account", c.account.Address, refused, r.MessagesPerAccount.Limit())
			return c.refuseRate("Too many messages from your account per minute")
		}
	}
	return nil
}

// outgoingLimit applies an authenticated account's daily limits to a
// remote recipient of tx: the transaction counts as one outgoing message
// at its first remote recipient, and each new remote address counts
// toward the distinct recipients, so a stolen password cannot turn the
// account into a spam source.
func (c *session) outgoingLimit(tx *transaction, addr string) *reply.Error {
	r := c.s.opts.Rates
	if r == nil || c.account == nil {
		return nil
	}
	acct := c.account.Address
	if !tx.outgoing {
		if ok, refused := r.OutgoingMessages.Allow(acct); !ok {
			c.logRefusal("outgoing_messages_per_day", acct, refused, r.OutgoingMessages.Limit())
			return errOutgoingMessages
		}
		tx.outgoing = true
	}
	if !r.OutgoingRecipients.Allow(acct, strings.ToLower(addr)) {
		c.s.log.Warn("rate limit", "limit", "outgoing_recipients_per_day", "key", acct, "ip", c.remote, "max", r.OutgoingRecipients.Limit(), "rcpt", addr)
		return errOutgoingRecipients
	}
	return nil
}

// authCapped ends a session whose IP used up its failed logins this hour
// (auth.ErrTooManyFailures).
func (c *session) authCapped() error {
	c.s.log.Warn("rate limit", "limit", "auth_failures_per_hour_per_ip", "ip", c.remote)
	return c.refuseRate("Too many failed logins from your address")
}
