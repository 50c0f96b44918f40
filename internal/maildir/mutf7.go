package maildir

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Folder names in Maildir++ directories are kept in modified UTF-7
// (RFC 3501 §5.1.3), as Dovecot does by default; the store uses UTF-8.

// b64 is the modified base64 of RFC 3501 §5.1.3: "," instead of "/", no
// padding.
var b64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

var errUTF7 = errors.New("invalid modified UTF-7")

// encodeLevel encodes one level of a folder name. Besides what modified
// UTF-7 always encodes (non-ASCII, control characters), it encodes "."
// — the Maildir++ hierarchy separator cannot appear inside a level — so
// that a name like "v1.2" survives a round trip.
func encodeLevel(s string) string {
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		buf := make([]byte, 0, 2*len(u))
		for _, c := range u {
			buf = append(buf, byte(c>>8), byte(c))
		}
		b.WriteByte('&')
		b.WriteString(b64.EncodeToString(buf))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e && r != '.':
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}

// decodeLevel decodes one level of a folder name. A name that is not
// valid modified UTF-7 but is valid UTF-8 (Dovecot with the UTF8 layout
// option, hand-made folders) is taken as it is.
func decodeLevel(s string) (string, error) {
	out, err := decodeUTF7(s)
	if err == nil {
		return out, nil
	}
	if utf8.ValidString(s) {
		return s, nil
	}
	return "", err
}

func decodeUTF7(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return "", errUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", errUTF7
		}
		enc := s[i+1 : i+1+j]
		i += j + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := b64.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", errUTF7
		}
		u := make([]uint16, len(raw)/2)
		for k := range u {
			u[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for _, r := range utf16.Decode(u) {
			if r == utf8.RuneError {
				return "", errUTF7
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}
