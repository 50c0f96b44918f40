package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"pochta/internal/scram"
	"pochta/internal/store"
)

// SCRAM-SHA-256 and -PLUS (RFC 5802, RFC 7677) for internal accounts:
// the client proves it knows the password without sending it. The
// verifier (package scram's Keys) is stored beside the argon2id hash
// whenever a password is set (SetSCRAMKeys), and for accounts whose
// password was set before SCRAM existed, the first successful PLAIN or
// LOGIN adds it, since the password is known then. An account without a
// verifier, and an unknown user, get a salt derived from a process
// secret, so the exchange looks the same until the proof fails: nobody
// can probe for accounts. Every failure counts as a failed login. The
// servers offer SCRAM where they offer PLAIN (TLS, or loopback when
// allowed): it keeps the password off the wire, not the session after.

// SetSCRAMKeys derives a SCRAM verifier from password and stores it
// beside hash, the argon2id hash just set for the account. A password
// SASLprep refuses gets no verifier: its owner logs in with PLAIN.
func SetSCRAMKeys(ctx context.Context, ks store.SCRAMStore, address, hash, password string) error {
	k, err := scram.NewKeys(password)
	if err != nil {
		return nil
	}
	return ks.SetSCRAMKeys(ctx, address, hash, k.String())
}

// addSCRAMKeys gives an account that logged in with its password a
// verifier if it has none. Best effort: the login stands either way, and
// a failure here is retried at the next login.
func (a *Authenticator) addSCRAMKeys(ctx context.Context, acct store.Account, password string) {
	if a.opts.SCRAM == nil {
		return
	}
	if _, keys, err := a.opts.SCRAM.SCRAMKeys(ctx, acct.Address); err == nil && keys == "" {
		SetSCRAMKeys(ctx, a.opts.SCRAM, acct.Address, acct.PasswordHash, password)
	}
}

// SASLMechanisms lists the challenge-response mechanisms to offer on a
// connection with channel bindings b (empty without TLS), best first;
// none without a verifier store.
func (a *Authenticator) SASLMechanisms(b scram.Bindings) []string {
	if a.opts.SCRAM == nil {
		return nil
	}
	return b.Mechanisms()
}

// ErrMechanism: the client asked for a mechanism not offered here.
var ErrMechanism = errors.New("auth: unsupported mechanism")

// StartSASL begins an exchange of mechanism mech (one SASLMechanisms
// offered for b) for a client at remote.
func (a *Authenticator) StartSASL(mech string, b scram.Bindings, remote netip.Addr) (*Exchange, error) {
	if a.opts.SCRAM == nil {
		return nil, ErrMechanism
	}
	conv, err := scram.NewConversation(strings.ToUpper(mech), b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMechanism, err)
	}
	return &Exchange{a: a, conv: conv, remote: remote.Unmap()}, nil
}

// StartSASL is Authenticator.StartSASL for p's protocol, which the
// exchange's outcome is counted under (Options.OnLogin), as Login's.
func (p ProtoAuthenticator) StartSASL(mech string, b scram.Bindings, remote netip.Addr) (*Exchange, error) {
	x, err := p.Authenticator.StartSASL(mech, b, remote)
	if x != nil {
		x.proto = p.proto
	}
	return x, err
}

// Exchange is one SCRAM authentication. The protocol server passes each
// client response to Next and sends back each challenge it returns,
// until Next reports done (logged in: Account) or an error.
type Exchange struct {
	a      *Authenticator
	conv   *scram.Conversation
	remote netip.Addr
	step   int
	known  bool // the user has a verifier (else fake keys were shown)
	acct   store.Account
	user   string
	proto  string // for Options.OnLogin
	// reported: the outcome went to Options.OnLogin (once per exchange).
	reported bool
}

// Next takes the client's decoded response and returns the challenge to
// send. The exchange has three client messages: client-first (the
// initial response, or the answer to an empty challenge),
// client-final, and an empty answer to the challenge that carries
// server-final (v=..., RFC 5802 §3), which mail protocols cannot send
// with their success reply. A failed proof, a channel-binding mismatch
// or a malformed message returns an error wrapping ErrInvalid after the
// failed-login delay; a store failure returns that error at once.
func (x *Exchange) Next(ctx context.Context, resp []byte) (challenge []byte, done bool, err error) {
	challenge, done, err = x.next(ctx, resp)
	// Counted as Login counts PLAIN and LOGIN: a success, a failure
	// (ErrInvalid, the IP's cap) or a store error, once.
	if (done || err != nil) && !x.reported && x.a.opts.OnLogin != nil {
		x.reported = true
		x.a.opts.OnLogin(x.proto, loginResult(err))
	}
	return challenge, done, err
}

func (x *Exchange) next(ctx context.Context, resp []byte) (challenge []byte, done bool, err error) {
	x.step++
	switch x.step {
	case 1:
		user, err := x.conv.ClientFirst(resp)
		if err != nil {
			return nil, false, x.fail(ctx, err)
		}
		user = strings.ToLower(strings.TrimSpace(user))
		x.user = user
		if x.a.capped(x.remote) {
			return nil, false, ErrTooManyFailures
		}
		keys := scram.FakeKeys(x.a.cache.secret, user)
		acct, stored, err := x.a.opts.SCRAM.SCRAMKeys(ctx, user)
		switch {
		case err == nil && stored != "":
			// An account that takes only app passwords has no usable
			// verifier: SCRAM proves the main password.
			refused, rerr := x.a.mainPasswordRefused(ctx, acct.ID)
			if rerr != nil {
				return nil, false, rerr
			}
			// A disabled account has none either (disabled.go).
			if derr := x.a.refuseDisabled(ctx, acct.ID); errors.Is(derr, ErrDisabled) {
				refused = true
			} else if derr != nil {
				return nil, false, derr
			}
			if k, perr := scram.ParseKeys(stored); perr == nil && !refused {
				keys, x.known, x.acct = k, true, acct
			}
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, false, err
		}
		return x.conv.ServerFirst(keys), false, nil
	case 2:
		v, err := x.conv.ClientFinal(resp)
		if err == nil && !x.known {
			err = scram.ErrProof // cannot happen: fake keys match no proof
		}
		if err != nil {
			return nil, false, x.fail(ctx, err)
		}
		return v, false, nil
	case 3:
		if len(resp) != 0 {
			return nil, false, x.fail(ctx, errors.New("scram: data after server-final"))
		}
		x.a.succeeded(x.remote)
		return nil, true, nil
	}
	return nil, false, errors.New("auth: exchange already finished")
}

// Account is the account that logged in, once Next reported done.
func (x *Exchange) Account() store.Account { return x.acct }

func (x *Exchange) fail(ctx context.Context, why error) error {
	x.step = 99
	x.a.failed(ctx, x.remote, x.user)
	return fmt.Errorf("%w: %v", ErrInvalid, why)
}
