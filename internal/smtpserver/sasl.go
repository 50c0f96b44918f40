package smtpserver

import (
	"context"
	"encoding/base64"
	"errors"

	"pochta/internal/auth"
	"pochta/internal/scram"
	"pochta/internal/store"
)

// firstResponse returns the client's first SASL response: the initial
// response on the AUTH line ("=" is an empty one, RFC 4954 §4) or the
// answer to an empty 334 challenge. nil means the exchange is over and
// its reply was sent; the error is then the session's.
func (c *session) firstResponse(initial string, hasInitial bool) ([]byte, error) {
	if !hasInitial {
		r, err := c.challenge("")
		if err != nil || r == nil {
			return nil, c.authAborted(err)
		}
		return r, nil
	}
	if initial == "=" {
		return []byte{}, nil
	}
	d, err := base64.StdEncoding.DecodeString(initial)
	if err != nil {
		return nil, c.protocolError(501, "5.5.2", "Invalid base64 data")
	}
	return d, nil
}

// authSCRAM runs a SCRAM exchange (RFC 5802). server-final goes out as a
// last 334 challenge, answered by an empty line: RFC 4954's 235 carries
// no SASL data.
func (c *session) authSCRAM(mech string, bindings scram.Bindings, initial string, hasInitial bool) error {
	resp, err := c.firstResponse(initial, hasInitial)
	if resp == nil {
		return err
	}
	x, err := c.s.opts.Auth.StartSASL(mech, bindings, c.remote)
	if err != nil {
		return c.protocolError(504, "5.5.4", "Unrecognized authentication mechanism")
	}
	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.limits.CommandTimeout.Duration)
	defer cancel()
	for {
		challenge, done, err := x.Next(ctx, resp)
		if err != nil {
			return c.authFailed(err)
		}
		if done {
			return c.authenticated(x.Account())
		}
		r, err := c.challenge(string(challenge))
		if err != nil || r == nil {
			return c.authAborted(err)
		}
		resp = r
	}
}

// authFailed answers a failed AUTH: 535 for wrong credentials, 454 when
// they could not be checked (RFC 4954 §6).
func (c *session) authFailed(err error) error {
	if errors.Is(err, auth.ErrInvalid) {
		c.s.log.Info("authentication failed", "ip", c.remote) // never the credentials
		return c.protocolError(535, "5.7.8", "Authentication credentials invalid")
	}
	c.s.log.Warn("authentication error", "ip", c.remote, "err", err)
	return c.reply(454, "4.7.0", "Temporary authentication failure")
}

// authenticated makes acct the session's user.
func (c *session) authenticated(acct store.Account) error {
	c.account = &acct
	c.s.log.Info("authenticated", "ip", c.remote, "account", acct.Address)
	return c.reply(235, "2.7.0", "Authentication successful")
}
