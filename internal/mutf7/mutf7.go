// Package mutf7 converts mailbox names between UTF-8 and modified UTF-7
// (RFC 3501 §5.1.3), the form IMAP4rev1 clients use on the wire and
// Dovecot uses for Maildir++ folder names on disk.
package mutf7

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// b64 is RFC 3501's modified base64: "," instead of "/", no padding.
var b64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// ErrInvalid is returned for input that is not modified UTF-7.
var ErrInvalid = errors.New("invalid modified UTF-7")

// Encode converts a UTF-8 name to modified UTF-7. Characters in also are
// base64-encoded even though they are printable ASCII (Maildir++ encodes
// its hierarchy separator "." this way); for IMAP pass "".
func Encode(s, also string) string {
	var sb strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		b := make([]byte, 0, 2*len(u))
		for _, c := range u {
			b = append(b, byte(c>>8), byte(c))
		}
		sb.WriteByte('&')
		sb.WriteString(b64.EncodeToString(b))
		sb.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			sb.WriteString("&-")
		case r >= 0x20 && r <= 0x7e && !strings.ContainsRune(also, r):
			flush()
			sb.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return sb.String()
}

// Decode converts a modified UTF-7 name to UTF-8, refusing anything not in
// the canonical form RFC 3501 requires (printable ASCII written as itself).
func Decode(s string) (string, error) { return decode(s, true) }

// DecodeLenient is Decode accepting base64-encoded printable ASCII, as
// Encode writes for the characters in also.
func DecodeLenient(s string) (string, error) { return decode(s, false) }

func decode(s string, canonical bool) (string, error) {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", ErrInvalid
		}
		if c != '&' {
			sb.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", ErrInvalid
		}
		enc := s[i+1 : i+1+end]
		i += end + 1
		if enc == "" {
			sb.WriteByte('&')
			continue
		}
		b, err := b64.DecodeString(enc)
		if err != nil || len(b)%2 != 0 {
			return "", ErrInvalid
		}
		u := make([]uint16, len(b)/2)
		for j := range u {
			u[j] = uint16(b[2*j])<<8 | uint16(b[2*j+1])
		}
		for _, r := range utf16.Decode(u) {
			if r == utf8.RuneError || (canonical && r >= 0x20 && r <= 0x7e) {
				return "", ErrInvalid
			}
			sb.WriteRune(r)
		}
	}
	return sb.String(), nil
}
