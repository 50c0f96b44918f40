package system

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"hash"
	"strconv"
	"strings"
)

// SHA-crypt ("$5$" SHA-256, "$6$" SHA-512), the crypt(3) schemes of glibc
// by Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512"
// (https://www.akkadia.org/drepper/SHA-crypt.txt); the step numbers in
// the comments are the specification's. Checked against the
// specification's test vectors and hashes made by `openssl passwd -5/-6`
// and `chpasswd -c SHA512` (shacrypt_test.go, system_test.go).

const (
	shaRoundsDefault = 5000
	shaRoundsMin     = 1000
	shaRoundsMax     = 999999999
	shaSaltMax       = 16
	cryptAlphabet    = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

var errUnsupportedHash = errors.New("unsupported password hash scheme")

// The order in which the final digest's bytes are encoded, three at a
// time (the specification's step 22).
var (
	sha256Order = [][]int{
		{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
		{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}, {-1, 31, 30},
	}
	sha512Order = [][]int{
		{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
		{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51},
		{31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35},
		{15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19},
		{62, 20, 41}, {-1, -1, 63},
	}
)

// shaCrypt computes the SHA-crypt string of password with the parameters
// (scheme, rounds, salt) taken from setting, a complete hash or just its
// "$6$[rounds=N$]salt" prefix.
func shaCrypt(password, setting string) (string, error) {
	var newHash func() hash.Hash
	var order [][]int
	var prefix string
	switch {
	case strings.HasPrefix(setting, "$5$"):
		newHash, order, prefix = sha256.New, sha256Order, "$5$"
	case strings.HasPrefix(setting, "$6$"):
		newHash, order, prefix = sha512.New, sha512Order, "$6$"
	default:
		return "", errUnsupportedHash
	}
	rest := setting[3:]
	rounds, custom := shaRoundsDefault, false
	if strings.HasPrefix(rest, "rounds=") {
		end := strings.IndexByte(rest, '$')
		if end < 0 {
			return "", errors.New("malformed SHA-crypt rounds")
		}
		n, err := strconv.ParseUint(rest[len("rounds="):end], 10, 64)
		if err != nil {
			return "", errors.New("malformed SHA-crypt rounds")
		}
		rounds, custom = int(min(max(n, shaRoundsMin), shaRoundsMax)), true
		rest = rest[end+1:]
	}
	salt := rest
	if i := strings.IndexByte(salt, '$'); i >= 0 {
		salt = salt[:i]
	}
	if len(salt) > shaSaltMax {
		salt = salt[:shaSaltMax]
	}
	pw, s := []byte(password), []byte(salt)

	// Steps 4-8: digest B = password salt password.
	b := newHash()
	b.Write(pw)
	b.Write(s)
	b.Write(pw)
	sumB := b.Sum(nil)
	size := len(sumB)

	// Steps 1-3, 9-12: digest A.
	a := newHash()
	a.Write(pw)
	a.Write(s)
	for n := len(pw); n > 0; n -= size {
		a.Write(sumB[:min(n, size)])
	}
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			a.Write(sumB)
		} else {
			a.Write(pw)
		}
	}
	sumA := a.Sum(nil)

	// Steps 13-16: P, from digest DP of the password len(password) times.
	dp := newHash()
	for range len(pw) {
		dp.Write(pw)
	}
	p := repeatTo(dp.Sum(nil), len(pw))

	// Steps 17-20: S, from digest DS of the salt 16+A[0] times.
	ds := newHash()
	for range 16 + int(sumA[0]) {
		ds.Write(s)
	}
	sv := repeatTo(ds.Sum(nil), len(s))

	// Step 21: the rounds.
	c := sumA
	h := newHash()
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sv)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}

	// Step 22: the output string.
	var out strings.Builder
	out.WriteString(prefix)
	if custom {
		out.WriteString("rounds=" + strconv.Itoa(rounds) + "$")
	}
	out.WriteString(salt)
	out.WriteByte('$')
	for _, g := range order {
		var w uint32
		n := 0
		for _, idx := range g {
			w <<= 8
			if idx >= 0 {
				w |= uint32(c[idx])
				n++
			}
		}
		for range n + 1 {
			out.WriteByte(cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	return out.String(), nil
}

// repeatTo returns n bytes of sum repeated.
func repeatTo(sum []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, sum[:min(len(sum), n-len(out))]...)
	}
	return out
}

// shaCryptVerify reports whether password matches a SHA-crypt hash.
func shaCryptVerify(stored, password string) (bool, error) {
	got, err := shaCrypt(password, stored)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(stored)) == 1, nil
}
