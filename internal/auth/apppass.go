package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"strings"

	"pochta/internal/store"
)

// Protocols an app password can be limited to; Login's callers name theirs
// through For.
const (
	ProtoIMAP = "imap"
	ProtoPOP3 = "pop3"
	ProtoSMTP = "smtp"
	// ProtoManageSieve: RFC 5804 ManageSieve.
	ProtoManageSieve = "managesieve"
	// ProtoJMAP: RFC 8620 JMAP over HTTP.
	ProtoJMAP = "jmap"
)

// ProtoWebmail is the webmail's login (internal/web). Like ProtoAdmin it
// opens the account's own pages, which take only its real password
// (accountPage); it is not one of AppProtocols.
const ProtoWebmail = "webmail"

// accountPage reports whether proto is a login to the account's own
// pages — the web admin, the webmail — which never take an app password:
// app passwords are for mail clients, and one copied from a phone must
// not change the account's password, app passwords or forwarding, nor
// skip its TOTP.
func accountPage(proto string) bool { return proto == ProtoAdmin || proto == ProtoWebmail }

// AppProtocols are the protocol names an app password may be limited to.
var AppProtocols = []string{ProtoIMAP, ProtoPOP3, ProtoSMTP, ProtoManageSieve, ProtoJMAP}

// App passwords are 16 characters from a 36-letter alphabet, shown in four
// groups of four ("k3n8-q0zv-..."), about 82 bits of entropy.
//
// They are stored as a plain SHA-256, not argon2id: a slow hash protects
// passwords people choose, which are guessable; a uniformly random 82-bit
// secret cannot be brute-forced from its SHA-256 (2^82 hashes), and no salt
// is needed because no two secrets share a precomputed table. The fast hash
// also lets Login find the app password by its hash with one indexed
// lookup, so a client that logs in with an app password costs no argon2id
// run at all, and an account's app passwords never need to be tried one
// by one.
const (
	appAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	appLen      = 16
)

// GenerateAppPassword returns a new random app password, grouped for
// reading ("abcd-efgh-ijkl-mnop").
func GenerateAppPassword() string {
	var b strings.Builder
	buf := make([]byte, 1)
	for n := 0; n < appLen; {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand never fails on Linux
		}
		// Rejection sampling keeps every letter equally likely: 252 is the
		// largest multiple of 36 below 256.
		if buf[0] >= 252 {
			continue
		}
		if n > 0 && n%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(appAlphabet[int(buf[0])%len(appAlphabet)])
		n++
	}
	return b.String()
}

// AppPasswordHash returns the stored form of an app password, ignoring
// case, spaces and dashes (the way people copy it). It returns "" when
// password cannot be an app password, so ordinary passwords never cost a
// lookup.
func AppPasswordHash(password string) string {
	var norm []byte
	for i := 0; i < len(password); i++ {
		c := password[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case ('a' <= c && c <= 'z') || ('0' <= c && c <= '9'):
		default:
			return ""
		}
		norm = append(norm, c)
		if len(norm) > appLen {
			return ""
		}
	}
	if len(norm) != appLen {
		return ""
	}
	sum := sha256.Sum256(norm)
	return hex.EncodeToString(sum[:])
}

// ProtoAuthenticator is an Authenticator for one protocol: its Login
// accepts app passwords limited to that protocol. The app gives each
// protocol server one (Authenticator.For).
type ProtoAuthenticator struct {
	*Authenticator
	proto string
}

// For returns the Authenticator as seen by one protocol (ProtoIMAP, ...).
func (a *Authenticator) For(proto string) ProtoAuthenticator {
	return ProtoAuthenticator{Authenticator: a, proto: proto}
}

// Login is Authenticator.Login for p's protocol.
func (p ProtoAuthenticator) Login(ctx context.Context, username, password string, remote netip.Addr) (store.Account, error) {
	return p.login(ctx, p.proto, username, password, remote)
}

// match says which of an account's passwords a login used.
type match int

const (
	noMatch      match = iota
	mainPassword       // the account's own password (its argon2id hash)
	appPassword        // one of its app passwords
)

// check tells which password of acct a login on protocol proto used: an
// app password of the account that is not limited to other protocols (on
// an account page, none), or — unless the account refuses it — the main
// password. Only a mainPassword
// match may be used to derive anything from the password (e.g. keys
// stored for other mechanisms).
func (a *Authenticator) check(ctx context.Context, proto string, acct store.Account, username, password string) (match, error) {
	ap := a.opts.AppPasswords
	if ap != nil {
		if h := AppPasswordHash(password); h != "" && !accountPage(proto) {
			p, err := ap.AppPasswordByHash(ctx, acct.ID, h)
			switch {
			case err == nil && (len(p.Protocols) == 0 || slices.Contains(p.Protocols, proto)):
				return appPassword, nil
			case err == nil:
				// A known app password used on a protocol it is not for is
				// a failure, not a reason to try it as the main password.
				return noMatch, nil
			case !errors.Is(err, store.ErrNotFound):
				return noMatch, err
			}
		}
		refused, err := ap.MainPasswordRefused(ctx, acct.ID)
		if err != nil {
			return noMatch, err
		}
		if refused {
			// The same cost as a wrong password, so the flag does not show.
			_, err := a.gate.verify(ctx, a.dummy, password)
			return noMatch, err
		}
	}
	ok, err := a.verify(ctx, username, password, acct.PasswordHash)
	if !ok || err != nil {
		return noMatch, err
	}
	return mainPassword, nil
}

// mainPasswordRefused reports whether the account takes only app
// passwords (false when app passwords are not configured).
func (a *Authenticator) mainPasswordRefused(ctx context.Context, accountID int64) (bool, error) {
	if a.opts.AppPasswords == nil {
		return false, nil
	}
	return a.opts.AppPasswords.MainPasswordRefused(ctx, accountID)
}

// sourcedAppPassword reports whether password is an app password, valid on
// proto, of the account username reaches through the account sources
// (a directory user's provisioned account, or an internal one). Anything
// else — not app-password shaped, an unknown or disabled user, an
// unreachable directory — is left to the normal path (ok = false).
func (a *Authenticator) sourcedAppPassword(ctx context.Context, proto, username, password string) (store.Account, bool, error) {
	h := AppPasswordHash(password)
	if a.opts.AppPasswords == nil || h == "" || accountPage(proto) {
		return store.Account{}, false, nil
	}
	acct, err := a.opts.Sources.Account(ctx, username)
	if err != nil {
		return store.Account{}, false, nil
	}
	p, err := a.opts.AppPasswords.AppPasswordByHash(ctx, acct.ID, h)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Account{}, false, nil
	case err != nil:
		return store.Account{}, false, err
	case len(p.Protocols) > 0 && !slices.Contains(p.Protocols, proto):
		return store.Account{}, false, nil
	}
	return acct, true, nil
}
