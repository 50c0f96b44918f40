package message

import "strings"

// AddressSearchText renders the value of an address header (From, To, Cc,
// Bcc, ...) as its parsed addresses in canonical form: `Name
// <mailbox@host>` (display name RFC 2047 decoded) or `mailbox@host`, group
// names as `name:` and group ends as `;`, separated by ", ". SEARCH FROM,
// TO, CC and BCC (RFC 9051 §6.4.4) are substring matches on the field;
// matching this text as well as the field itself finds an address however
// it was written (comments, quoting, folding inside the addr-spec, as RFC
// 5322 §3.4.1 and §4.4 allow: `<user (c)@ (c) example.org>` is
// user@example.org), as Dovecot does.
func AddressSearchText(v string) string {
	var b strings.Builder
	for i, a := range parseAddressList(v) {
		if i > 0 && !a.GroupEnd {
			b.WriteString(", ")
		}
		switch {
		case a.GroupStart:
			b.WriteString(decodeHeader(a.Mailbox))
			b.WriteByte(':')
		case a.GroupEnd:
			b.WriteByte(';')
		default:
			spec := a.Mailbox
			if a.Host != "" {
				spec += "@" + a.Host
			}
			if name := strings.TrimSpace(decodeHeader(a.Name)); name != "" {
				b.WriteString(name)
				b.WriteString(" <")
				b.WriteString(spec)
				b.WriteByte('>')
			} else {
				b.WriteString(spec)
			}
		}
	}
	return b.String()
}
