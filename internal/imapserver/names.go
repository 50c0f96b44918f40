package imapserver

import (
	"strings"
	"unicode/utf8"

	"pochta/internal/mutf7"
	"pochta/internal/store"
)

const maxMailboxName = 1000

// decodeName turns a mailbox name from the client into the store's UTF-8
// form, refusing anything that could escape the account's hierarchy or
// confuse a backend: empty levels (including a leading "/"), "." and ".."
// levels, control characters, invalid UTF-8 or modified UTF-7, and names
// over 1,000 bytes. "INBOX" is case-insensitive (RFC 9051 §5.1).
func (s *session) decodeName(raw string) (string, bool) {
	name := raw
	if !s.utf8Names() {
		dec, err := mutf7.Decode(raw)
		if err != nil {
			// A rev1 client may still send 8-bit UTF-8; accept it if valid.
			if !utf8.ValidString(raw) || isASCII(raw) {
				return "", false
			}
			dec = raw
		}
		name = dec
	}
	return cleanName(name)
}

func cleanName(name string) (string, bool) {
	if name == "" || len(name) > maxMailboxName || !utf8.ValidString(name) {
		return "", false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return "", false
		}
	}
	if strings.EqualFold(name, "INBOX") {
		return "INBOX", true
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		name = "INBOX" + name[5:]
	}
	for _, level := range strings.Split(name, store.Delimiter) {
		if level == "" || level == "." || level == ".." {
			return "", false
		}
	}
	return name, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// encodeName spells a stored name for this client.
func (s *session) encodeName(name string) string {
	if s.utf8Names() {
		return name
	}
	return mutf7.Encode(name, "")
}
