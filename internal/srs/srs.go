// Package srs is the Sender Rewriting Scheme (SRS) as specified by Shevek
// ("The Sender Rewriting Scheme", 2004) and implemented by libsrs2 and
// Postfix's postsrsd: when a message is forwarded to another domain, its
// envelope sender is rewritten to an address at the forwarding domain, so
// that SPF (RFC 7208) keeps passing at the destination, and a bounce to
// that address can be returned to the original sender.
//
//	SRS0=HHHH=TT=orig-domain=orig-local@forwarding-domain
//	SRS1=HHHH=first-forwarder==HHHH=TT=orig-domain=orig-local@forwarding-domain
//
// HHHH is the first four characters of the base64 HMAC-SHA1, keyed with a
// secret, of the lower-cased fields that follow it; TT is the day number
// modulo 1024 in two base32 characters. A reversed address is accepted
// only when its hash matches one of the secrets (case-insensitively, since
// some MTAs change the case of local parts) and, for SRS0, its timestamp
// is at most MaxAge days old. An SRS0 address from another forwarder is
// wrapped as SRS1 (its hash covering that forwarder's domain and the rest)
// instead of growing with every hop, as libsrs2's "guarded" scheme.
package srs

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Errors returned by Reverse.
var (
	ErrNotSRS  = errors.New("srs: not an SRS address")
	ErrForged  = errors.New("srs: hash does not match")
	ErrExpired = errors.New("srs: timestamp out of date")
	ErrSyntax  = errors.New("srs: malformed SRS address")
)

const (
	hashLen       = 4                                  // libsrs2's default hash length
	timeBaseChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" // base32
	timeSlots     = 1024                               // two base32 characters
	dayPrecision  = 24 * time.Hour
	// separators that may follow the SRS0/SRS1 tag (libsrs2 accepts all three).
	separators = "=-+"
	// DefaultMaxAge is how many days a rewritten address stays valid
	// (libsrs2's and postsrsd's default).
	DefaultMaxAge = 21
)

// Rewriter rewrites and verifies SRS addresses.
type Rewriter struct {
	secrets [][]byte // the first signs; all verify
	maxAge  int
	now     func() time.Time
}

// New returns a Rewriter. secrets must hold at least one secret; the first
// signs new addresses and every one verifies (so a secret can be rotated).
// maxAge <= 0 means DefaultMaxAge days; now nil means time.Now.
func New(secrets [][]byte, maxAge int, now func() time.Time) (*Rewriter, error) {
	if len(secrets) == 0 || len(secrets[0]) == 0 {
		return nil, errors.New("srs: no secret")
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if now == nil {
		now = time.Now
	}
	return &Rewriter{secrets: secrets, maxAge: maxAge, now: now}, nil
}

// IsSRS reports whether addr's local part carries an SRS0 or SRS1 tag.
func IsSRS(addr string) bool {
	local, _, ok := splitAddr(addr)
	return ok && tag(local) != ""
}

// tag returns "SRS0" or "SRS1" when local begins with that tag (any case)
// and a separator, else "".
func tag(local string) string {
	if len(local) < 5 || !strings.ContainsRune(separators, rune(local[4])) {
		return ""
	}
	switch t := strings.ToUpper(local[:4]); t {
	case "SRS0", "SRS1":
		return t
	}
	return ""
}

func splitAddr(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}

// Forward rewrites sender for a message forwarded by aliasDomain (one of
// ours). A plain address becomes SRS0; an SRS0 address of another
// forwarder becomes SRS1; an SRS1 address keeps its first forwarder and
// hash and is re-signed for aliasDomain. The null sender and addresses
// without a domain cannot be rewritten (an error).
func (r *Rewriter) Forward(sender, aliasDomain string) (string, error) {
	local, host, ok := splitAddr(sender)
	if !ok || aliasDomain == "" || strings.Contains(host, "=") { // no domain holds "="
		return "", fmt.Errorf("srs: cannot rewrite %q", sender)
	}
	switch tag(local) {
	case "SRS1":
		// SRS1=HHHH=first==rest: keep first and rest, hash them anew.
		f := strings.SplitN(local[5:], "=", 3)
		if len(f) < 3 || f[1] == "" {
			return "", ErrSyntax
		}
		return r.srs1(f[1], f[2], aliasDomain), nil
	case "SRS0":
		// The whole SRS0 local part after the tag (separator included)
		// travels on, with the forwarder that made it.
		return r.srs1(host, local[4:], aliasDomain), nil
	}
	stamp := r.timestamp()
	return "SRS0=" + r.hash(r.secrets[0], stamp, host, local) + "=" + stamp + "=" + host + "=" + local + "@" + aliasDomain, nil
}

func (r *Rewriter) srs1(first, rest, aliasDomain string) string {
	return "SRS1=" + r.hash(r.secrets[0], first, rest) + "=" + first + "=" + rest + "@" + aliasDomain
}

// Reverse returns the address an SRS address stands for: the original
// sender for SRS0, the first forwarder's SRS0 address for SRS1. It fails
// with ErrNotSRS, ErrSyntax, ErrForged or ErrExpired.
func (r *Rewriter) Reverse(addr string) (string, error) {
	local, _, ok := splitAddr(addr)
	if !ok {
		return "", ErrNotSRS
	}
	switch tag(local) {
	case "SRS0":
		f := strings.SplitN(local[5:], "=", 4) // hash, stamp, host, user (may hold "=")
		if len(f) < 4 || f[2] == "" || f[3] == "" {
			return "", ErrSyntax
		}
		if !r.verify(f[0], f[1], f[2], f[3]) {
			return "", ErrForged
		}
		if err := r.checkTimestamp(f[1]); err != nil {
			return "", err
		}
		return f[3] + "@" + f[2], nil
	case "SRS1":
		f := strings.SplitN(local[5:], "=", 3) // hash, first forwarder, rest
		if len(f) < 3 || f[1] == "" || f[2] == "" {
			return "", ErrSyntax
		}
		if !r.verify(f[0], f[1], f[2]) {
			return "", ErrForged
		}
		return "SRS0" + f[2] + "@" + f[1], nil
	}
	return "", ErrNotSRS
}

// hash is the first hashLen characters of base64(HMAC-SHA1(secret,
// lower-cased concatenation of data)), as libsrs2's srs_hash_create.
func (r *Rewriter) hash(secret []byte, data ...string) string {
	m := hmac.New(sha1.New, secret)
	for _, d := range data {
		m.Write([]byte(strings.ToLower(d)))
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))[:hashLen]
}

// verify compares got with the hash under every secret, ignoring case (a
// relay may have changed the case of the local part; libsrs2 accepts that
// too), in constant time per secret.
func (r *Rewriter) verify(got string, data ...string) bool {
	if len(got) != hashLen {
		return false
	}
	ok := false
	for _, s := range r.secrets {
		want := strings.ToLower(r.hash(s, data...))
		if hmac.Equal([]byte(want), []byte(strings.ToLower(got))) {
			ok = true
		}
	}
	return ok
}

// timestamp is today's day number modulo 1024 in two base32 characters.
func (r *Rewriter) timestamp() string {
	day := r.now().Unix() / int64(dayPrecision/time.Second)
	return string([]byte{timeBaseChars[(day>>5)&31], timeBaseChars[day&31]})
}

// checkTimestamp accepts a stamp made at most maxAge days ago (modulo the
// 1024-day cycle, as libsrs2's srs_timestamp_check).
func (r *Rewriter) checkTimestamp(stamp string) error {
	if len(stamp) != 2 {
		return ErrSyntax
	}
	then := 0
	for _, c := range strings.ToUpper(stamp) {
		i := strings.IndexRune(timeBaseChars, c)
		if i < 0 {
			return ErrSyntax
		}
		then = then<<5 | i
	}
	now := int(r.now().Unix()/int64(dayPrecision/time.Second)) % timeSlots
	for now < then {
		now += timeSlots
	}
	if now > then+r.maxAge {
		return ErrExpired
	}
	return nil
}

// LoadSecrets reads the secrets file: one secret per non-empty line, the
// first signing. When the file does not exist it is created with a new
// random secret, mode 0600, in a folder of mode 0700 — the first start of
// a server generates its own. Several nodes share one file to accept each
// other's addresses.
func LoadSecrets(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b, err = create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("srs secret: %w", err)
	}
	return parseSecrets(b, path)
}

// parseSecrets reads one secret per non-empty line; from names the
// source in errors.
func parseSecrets(b []byte, from string) ([][]byte, error) {
	var out [][]byte
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, []byte(line))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("srs secret: %s holds no secret", from)
	}
	return out, nil
}

// newSecret is a random secret line.
func newSecret() []byte {
	raw := make([]byte, 32)
	rand.Read(raw) // crypto/rand never fails on Linux
	return []byte(base64.RawStdEncoding.EncodeToString(raw) + "\n")
}

func create(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	secret := newSecret()
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.Write(secret)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Another process may have won the race: keep its secret.
		if err = os.Link(tmp, path); errors.Is(err, os.ErrExist) {
			os.Remove(tmp)
			return os.ReadFile(path)
		}
	}
	os.Remove(tmp)
	if err != nil {
		return nil, err
	}
	return secret, nil
}
