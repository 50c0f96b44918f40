// Package scram is the server side of SCRAM-SHA-256 and
// SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677): the salted keys kept for an
// account (Keys), the channel-binding data of a TLS connection
// (TLSBindings: tls-exporter, RFC 9266, and tls-server-end-point,
// RFC 5929), and one authentication exchange (Conversation).
//
// Written here rather than taken from a library: the one served module
// with a SCRAM server (github.com/xdg-go/scram) binds a conversation to a
// single channel-binding type chosen before the client speaks, cannot
// check that the gs2 flag fits the mechanism name the client chose (a
// "p=" flag under SCRAM-SHA-256 or an "n" under -PLUS must fail), and
// answers an unknown user with e=unknown-user, which lets anyone probe
// for accounts. Its client is what the tests use as the independent
// implementation.
//
// The package knows nothing of accounts or stores: the caller reads the
// username from ClientFirst, looks up the Keys (or, for a user without
// keys, FakeKeys, so that both look alike on the wire) and passes them to
// ServerFirst.
package scram

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xdg-go/stringprep"
)

// Mechanism names (RFC 7677 §2; the -PLUS variant binds the TLS channel,
// RFC 5802 §6).
const (
	SHA256     = "SCRAM-SHA-256"
	SHA256Plus = "SCRAM-SHA-256-PLUS"
)

// Iterations is the PBKDF2 iteration count of newly made keys. RFC 7677
// §4 asks for at least 4096; more makes an offline guess at a stolen
// verifier dearer, at the price of as much work for every client login.
const Iterations = 10000

// Bounds on stored and received values.
const (
	minIterations = 4096
	maxIterations = 1 << 22
	saltLen       = 16
	// MaxMessage bounds one client message: a username and nonce of a few
	// hundred bytes each, a 44-byte proof, channel-binding data of at most
	// 64 bytes (SHA-512) plus its gs2 header, all base64-encoded once.
	MaxMessage = 4096
)

// Errors of a Conversation. Callers treat every one as a failed login;
// they differ only for logs and tests.
var (
	// ErrMalformed: the client's message breaks RFC 5802 §7's grammar.
	ErrMalformed = errors.New("scram: malformed message")
	// ErrChannelBinding: the gs2 flag does not fit the mechanism or what
	// the server offers, or the binding data differ (RFC 5802 §6).
	ErrChannelBinding = errors.New("scram: channel binding mismatch")
	// ErrExtension: a mandatory extension ("m=") we do not know (§5.1).
	ErrExtension = errors.New("scram: unsupported mandatory extension")
	// ErrAuthzid: the client asked to act as another user.
	ErrAuthzid = errors.New("scram: authorization identity differs from user")
	// ErrProof: the client does not know the password (or the user has
	// no keys).
	ErrProof = errors.New("scram: invalid proof")
)

// Keys are what the server keeps of a password (RFC 5802 §3): enough to
// check a client's proof and prove itself in return, useless for logging
// in elsewhere without a dictionary attack through PBKDF2.
type Keys struct {
	Iterations int
	Salt       []byte
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte
}

// NewKeys derives Keys for password with a fresh random salt.
func NewKeys(password string) (Keys, error) {
	salt := make([]byte, saltLen)
	rand.Read(salt) // never fails on Linux (crypto/rand)
	return DeriveKeys(password, salt, Iterations)
}

// DeriveKeys computes Keys from a password, salt and iteration count:
// SaltedPassword := Hi(Normalize(password), salt, i), then ClientKey,
// StoredKey and ServerKey (RFC 5802 §3). Normalize is SASLprep
// (RFC 4013); a password SASLprep refuses (control characters, for
// instance) has no keys, and its owner must use PLAIN.
func DeriveKeys(password string, salt []byte, iterations int) (Keys, error) {
	if iterations < minIterations || iterations > maxIterations {
		return Keys{}, fmt.Errorf("scram: iteration count %d out of range", iterations)
	}
	prepped, err := stringprep.SASLprep.Prepare(password)
	if err != nil {
		return Keys{}, errors.New("scram: password refused by SASLprep") // never quote it
	}
	salted, err := pbkdf2.Key(sha256.New, prepped, salt, iterations, sha256.Size)
	if err != nil {
		return Keys{}, err
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return Keys{
		Iterations: iterations,
		Salt:       append([]byte(nil), salt...),
		StoredKey:  stored[:],
		ServerKey:  mac(salted, "Server Key"),
	}, nil
}

// keysPrefix marks the stored form; it is Dovecot's scheme name, and the
// rest is Dovecot's format too, so verifiers can move between the two.
const keysPrefix = "{SCRAM-SHA-256}"

// String returns the stored form:
// {SCRAM-SHA-256}iterations,base64(salt),base64(StoredKey),base64(ServerKey).
func (k Keys) String() string {
	b := base64.StdEncoding
	return keysPrefix + strconv.Itoa(k.Iterations) + "," + b.EncodeToString(k.Salt) + "," +
		b.EncodeToString(k.StoredKey) + "," + b.EncodeToString(k.ServerKey)
}

// ParseKeys reads the form String writes; it refuses iteration counts
// and key lengths out of range.
func ParseKeys(s string) (Keys, error) {
	rest, ok := strings.CutPrefix(s, keysPrefix)
	f := strings.Split(rest, ",")
	if !ok || len(f) != 4 {
		return Keys{}, errors.New("scram: bad stored keys")
	}
	var k Keys
	var err error
	if k.Iterations, err = strconv.Atoi(f[0]); err != nil || k.Iterations < minIterations || k.Iterations > maxIterations {
		return Keys{}, errors.New("scram: bad stored iteration count")
	}
	b := base64.StdEncoding
	k.Salt, err = b.DecodeString(f[1])
	if err != nil || len(k.Salt) == 0 || len(k.Salt) > 64 {
		return Keys{}, errors.New("scram: bad stored salt")
	}
	k.StoredKey, err = b.DecodeString(f[2])
	if err != nil || len(k.StoredKey) != sha256.Size {
		return Keys{}, errors.New("scram: bad stored key")
	}
	k.ServerKey, err = b.DecodeString(f[3])
	if err != nil || len(k.ServerKey) != sha256.Size {
		return Keys{}, errors.New("scram: bad server key")
	}
	return k, nil
}

// FakeKeys are the keys shown for a user who has none (unknown, or whose
// password was set before SCRAM): the salt is derived from secret and the
// name, so asking twice gives the same salt, as for a real account, and
// the stored key is random, so no proof can match.
func FakeKeys(secret []byte, username string) Keys {
	salt := hmac.New(sha256.New, secret)
	salt.Write([]byte("scram-fake-salt\x00"))
	salt.Write([]byte(username))
	stored := make([]byte, sha256.Size)
	rand.Read(stored)
	return Keys{Iterations: Iterations, Salt: salt.Sum(nil)[:saltLen], StoredKey: stored, ServerKey: stored}
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Conversation is one server-side SCRAM exchange: ClientFirst,
// ServerFirst, ClientFinal, in that order, once each.
type Conversation struct {
	plus     bool     // the client chose the -PLUS mechanism
	bindings Bindings // what this connection offers; empty without TLS

	gs2Header   string // "n,," / "y,," / "p=type,," with authzid
	cbType      string
	clientBare  string
	nonce       string // client nonce + server nonce
	serverFirst string
	keys        Keys
	step        int
}

// NewConversation starts an exchange for mechanism mech (SHA256 or
// SHA256Plus) on a connection offering bindings (nil or empty without
// TLS: then only SHA256 may be used).
func NewConversation(mech string, bindings Bindings) (*Conversation, error) {
	switch mech {
	case SHA256:
	case SHA256Plus:
		if len(bindings) == 0 {
			return nil, fmt.Errorf("%w: %s without TLS", ErrChannelBinding, mech)
		}
	default:
		return nil, fmt.Errorf("scram: unknown mechanism %q", mech)
	}
	return &Conversation{plus: mech == SHA256Plus, bindings: bindings}, nil
}

// ClientFirst reads client-first-message (RFC 5802 §7) and returns the
// username, with =2C and =3D decoded. It checks the gs2 header against
// the mechanism (§6): under -PLUS the client must send "p=" with a type
// this connection offers; under the plain mechanism "p=" fails, and so
// does "y" when the connection offers channel binding (the client did not
// see -PLUS: a downgrade). An authzid other than the username fails.
func (c *Conversation) ClientFirst(msg []byte) (string, error) {
	if c.step != 0 {
		return "", errors.New("scram: out of order")
	}
	c.step = 1
	if len(msg) > MaxMessage {
		return "", fmt.Errorf("%w: message too long", ErrMalformed)
	}
	s := string(msg)
	flag, rest, ok := strings.Cut(s, ",")
	if !ok {
		return "", ErrMalformed
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return "", ErrMalformed
	}
	c.gs2Header = s[:len(flag)+1+len(authz)+1]
	c.clientBare = bare
	switch {
	case flag == "n" || flag == "y":
		if c.plus {
			return "", fmt.Errorf("%w: %s needs channel binding, client sent %q", ErrChannelBinding, SHA256Plus, flag)
		}
		if flag == "y" && len(c.bindings) > 0 {
			return "", fmt.Errorf("%w: client sent \"y\" but %s is offered", ErrChannelBinding, SHA256Plus)
		}
	case strings.HasPrefix(flag, "p="):
		c.cbType = flag[2:]
		if !c.plus {
			return "", fmt.Errorf("%w: channel binding under %s", ErrChannelBinding, SHA256)
		}
		if _, ok := c.bindings[c.cbType]; !ok {
			return "", fmt.Errorf("%w: type %q not offered", ErrChannelBinding, c.cbType)
		}
	default:
		return "", ErrMalformed
	}
	var authzid string
	if authz != "" {
		v, ok := strings.CutPrefix(authz, "a=")
		if !ok {
			return "", ErrMalformed
		}
		var err error
		if authzid, err = decodeName(v); err != nil {
			return "", err
		}
	}
	attrs := strings.Split(bare, ",")
	if len(attrs) > 0 && strings.HasPrefix(attrs[0], "m=") {
		return "", ErrExtension
	}
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return "", ErrMalformed
	}
	user, err := decodeName(attrs[0][2:])
	if err != nil {
		return "", err
	}
	cnonce := attrs[1][2:]
	if cnonce == "" || !printable(cnonce) {
		return "", fmt.Errorf("%w: bad nonce", ErrMalformed)
	}
	if authzid != "" && !strings.EqualFold(authzid, user) {
		return "", ErrAuthzid
	}
	snonce := make([]byte, 24)
	rand.Read(snonce) // never fails on Linux (crypto/rand)
	c.nonce = cnonce + base64.RawStdEncoding.EncodeToString(snonce)
	return user, nil
}

// ServerFirst returns server-first-message for the user's keys (real or
// FakeKeys): r=nonce,s=salt,i=iterations.
func (c *Conversation) ServerFirst(keys Keys) []byte {
	c.keys = keys
	c.step = 2
	c.serverFirst = "r=" + c.nonce + ",s=" + base64.StdEncoding.EncodeToString(keys.Salt) + ",i=" + strconv.Itoa(keys.Iterations)
	return []byte(c.serverFirst)
}

// ClientFinal checks client-final-message: the channel-binding data must
// be the gs2 header followed, under -PLUS, by this connection's data for
// the chosen type; the nonce must be ours; and the proof must give a
// ClientKey whose hash is StoredKey (compared in constant time). On
// success it returns server-final-message (v=ServerSignature).
func (c *Conversation) ClientFinal(msg []byte) ([]byte, error) {
	if c.step != 2 {
		return nil, errors.New("scram: out of order")
	}
	c.step = 3
	if len(msg) > MaxMessage {
		return nil, fmt.Errorf("%w: message too long", ErrMalformed)
	}
	s := string(msg)
	i := strings.LastIndex(s, ",p=")
	if i < 0 {
		return nil, ErrMalformed
	}
	withoutProof, proofB64 := s[:i], s[i+3:]
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, ErrMalformed
	}
	cbind, err := base64.StdEncoding.DecodeString(attrs[0][2:])
	if err != nil {
		return nil, fmt.Errorf("%w: channel binding not base64", ErrMalformed)
	}
	want := []byte(c.gs2Header)
	if c.cbType != "" {
		want = append(want, c.bindings[c.cbType]...)
	}
	if subtle.ConstantTimeCompare(cbind, want) != 1 {
		return nil, ErrChannelBinding
	}
	if subtle.ConstantTimeCompare([]byte(attrs[1][2:]), []byte(c.nonce)) != 1 {
		return nil, fmt.Errorf("%w: nonce differs", ErrMalformed)
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != sha256.Size {
		return nil, fmt.Errorf("%w: bad proof", ErrMalformed)
	}
	authMsg := c.clientBare + "," + c.serverFirst + "," + withoutProof
	sig := hmac.New(sha256.New, c.keys.StoredKey)
	sig.Write([]byte(authMsg))
	clientKey := sig.Sum(nil)
	for i := range clientKey {
		clientKey[i] ^= proof[i]
	}
	stored := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(stored[:], c.keys.StoredKey) != 1 {
		return nil, ErrProof
	}
	ss := hmac.New(sha256.New, c.keys.ServerKey)
	ss.Write([]byte(authMsg))
	return []byte("v=" + base64.StdEncoding.EncodeToString(ss.Sum(nil))), nil
}

// decodeName undoes saslname's escapes (RFC 5802 §5.1): "=2C" is ",",
// "=3D" is "="; any other "=" is an error, as is an empty name or one
// that is not UTF-8.
func decodeName(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty name", ErrMalformed)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '=' && strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
			i += 2
		case s[i] == '=' && strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
			i += 2
		case s[i] == '=' || s[i] == 0:
			return "", fmt.Errorf("%w: bad name encoding", ErrMalformed)
		default:
			b.WriteByte(s[i])
		}
	}
	name := b.String()
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: name not UTF-8", ErrMalformed)
	}
	return name, nil
}

// printable: %x21-2B / %x2D-7E, the characters of a nonce (§7).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}
