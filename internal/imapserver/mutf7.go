package imapserver

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 §5.1.3) is how IMAP4rev1 clients spell
// non-ASCII mailbox names; IMAP4rev2 and UTF8=ACCEPT clients use UTF-8.

var mutf7Enc = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

var errBadMUTF7 = errors.New("invalid modified UTF-7")

// encodeMUTF7 converts a UTF-8 name to modified UTF-7.
func encodeMUTF7(s string) string {
	var sb strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		b := make([]byte, 2*len(u))
		for i, c := range u {
			b[2*i], b[2*i+1] = byte(c>>8), byte(c)
		}
		sb.WriteByte('&')
		sb.WriteString(mutf7Enc.EncodeToString(b))
		sb.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				sb.WriteString("&-")
			} else {
				sb.WriteRune(r)
			}
			continue
		}
		run = append(run, r)
	}
	flush()
	return sb.String()
}

// decodeMUTF7 converts a modified UTF-7 name to UTF-8, refusing anything
// that is not in canonical form.
func decodeMUTF7(s string) (string, error) {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errBadMUTF7
		}
		if c != '&' {
			sb.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", errBadMUTF7
		}
		enc := s[i+1 : i+1+end]
		i += end + 1
		if enc == "" {
			sb.WriteByte('&')
			continue
		}
		b, err := mutf7Enc.DecodeString(enc)
		if err != nil || len(b)%2 != 0 {
			return "", errBadMUTF7
		}
		u := make([]uint16, len(b)/2)
		for j := range u {
			u[j] = uint16(b[2*j])<<8 | uint16(b[2*j+1])
		}
		for _, r := range utf16.Decode(u) {
			if r == utf8.RuneError || (r >= 0x20 && r <= 0x7e) {
				return "", errBadMUTF7
			}
			sb.WriteRune(r)
		}
	}
	return sb.String(), nil
}
