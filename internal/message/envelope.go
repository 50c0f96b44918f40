package message

import "strings"

// Envelope returns the parsed ENVELOPE fields of the message.
func (m *Message) Envelope() Envelope { return envelopeOf(m.raw, m.root) }

func envelopeOf(raw []byte, p *Part) Envelope {
	get := func(name string) string { v, _ := p.headerValue(raw, name); return v }
	addrs := func(name string) []Address {
		v, ok := p.headerValue(raw, name)
		if !ok {
			return nil
		}
		return parseAddressList(v)
	}
	return Envelope{
		Date:      get("date"),
		Subject:   get("subject"),
		From:      addrs("from"),
		Sender:    addrs("sender"),
		ReplyTo:   addrs("reply-to"),
		To:        addrs("to"),
		Cc:        addrs("cc"),
		Bcc:       addrs("bcc"),
		InReplyTo: get("in-reply-to"),
		MessageID: get("message-id"),
	}
}

// IMAP renders the envelope in IMAP syntax (RFC 9051 §7.5.2) for a client
// that has not enabled UTF-8: "(date subject (from) (sender) (reply-to) (to)
// (cc) (bcc) in-reply-to message-id)". Sender and reply-to default to from
// when absent (RFC 9051 §7.5.2 "the server MUST default ...").
func (e Envelope) IMAP() string { return e.Format(false) }

// Format renders the envelope; utf8OK allows UTF-8 in quoted strings (after
// ENABLE UTF8=ACCEPT, RFC 9051 / RFC 6855), otherwise 8-bit values are sent
// as literals.
func (e Envelope) Format(utf8OK bool) string {
	var b strings.Builder
	e.write(&b, utf8OK)
	return b.String()
}

func (e Envelope) write(b *strings.Builder, utf8OK bool) {
	sender, replyTo := e.Sender, e.ReplyTo
	if len(sender) == 0 {
		sender = e.From
	}
	if len(replyTo) == 0 {
		replyTo = e.From
	}
	b.WriteByte('(')
	writeNString(b, e.Date, utf8OK)
	b.WriteByte(' ')
	writeNString(b, e.Subject, utf8OK)
	for _, l := range [][]Address{e.From, sender, replyTo, e.To, e.Cc, e.Bcc} {
		b.WriteByte(' ')
		writeAddressList(b, l, utf8OK)
	}
	b.WriteByte(' ')
	writeNString(b, e.InReplyTo, utf8OK)
	b.WriteByte(' ')
	writeNString(b, e.MessageID, utf8OK)
	b.WriteByte(')')
}

func writeAddressList(b *strings.Builder, l []Address, utf8OK bool) {
	if len(l) == 0 {
		b.WriteString("NIL")
		return
	}
	b.WriteByte('(')
	for _, a := range l {
		switch {
		case a.GroupEnd:
			b.WriteString("(NIL NIL NIL NIL)")
		case a.GroupStart:
			b.WriteString("(NIL NIL ")
			writeString(b, a.Mailbox, utf8OK)
			b.WriteString(" NIL)")
		default:
			b.WriteByte('(')
			writeNString(b, a.Name, utf8OK)
			b.WriteByte(' ')
			writeNString(b, a.ADL, utf8OK)
			b.WriteByte(' ')
			writeString(b, a.Mailbox, utf8OK)
			b.WriteByte(' ')
			writeString(b, a.Host, utf8OK)
			b.WriteByte(')')
		}
	}
	b.WriteByte(')')
}

// addrToken is one lexical token of an address header (RFC 5322 §3.2).
type addrToken struct {
	text    string // unquoted content for words, the character for specials, the text of comments
	raw     string // as written (quoted strings keep their quotes)
	special byte   // one of <>@,:;. or '(' for a comment, 0 for a word
	space   bool   // white space or a comment preceded the token
}

// maxAddrTokens bounds the work spent on one address header.
const maxAddrTokens = 10000

// tokenizeAddress splits an unfolded address header value into tokens.
// Comments become '(' tokens: they are ignored except as display name for
// the legacy "addr (Name)" form.
func tokenizeAddress(s string) (toks []addrToken) {
	space := false
	for i := 0; i < len(s) && len(toks) < maxAddrTokens; {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			i++
		case c == '(':
			depth, j := 0, i
			var cb strings.Builder
		comment:
			for ; j < len(s); j++ {
				switch s[j] {
				case '\\':
					if j+1 < len(s) {
						j++
						cb.WriteByte(s[j])
					}
					continue
				case '(':
					depth++
					if depth == 1 {
						continue
					}
				case ')':
					depth--
					if depth == 0 {
						j++
						break comment
					}
				}
				cb.WriteByte(s[j])
			}
			toks = append(toks, addrToken{text: strings.TrimSpace(cb.String()), special: '('})
			i = j
			space = true
		case c == '"':
			var qb strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				qb.WriteByte(s[j])
			}
			end := min(j+1, len(s))
			toks = append(toks, addrToken{text: qb.String(), raw: s[i:end], space: space})
			i, space = end, false
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			end := len(s)
			if j >= 0 {
				end = i + j + 1
			}
			toks = append(toks, addrToken{text: s[i:end], raw: s[i:end], space: space})
			i, space = end, false
		case strings.IndexByte("<>@,:;.", c) >= 0:
			toks = append(toks, addrToken{text: s[i : i+1], raw: s[i : i+1], special: c, space: space})
			i, space = i+1, false
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\r\n()\"[<>@,:;.", s[j]) < 0 {
				j++
			}
			toks = append(toks, addrToken{text: s[i:j], raw: s[i:j], space: space})
			i, space = j, false
		}
	}
	return toks
}

// parseAddressList parses an address-list / mailbox-list leniently,
// keeping display names raw (encoded-words are not decoded, as IMAP clients
// decode them). Groups become start/end markers.
func parseAddressList(s string) []Address {
	toks := tokenizeAddress(s)
	var out []Address
	inGroup := false
	var seg []addrToken
	angle := false
	flush := func() {
		if a, ok := segmentAddress(seg); ok {
			out = append(out, a)
		}
		seg = seg[:0]
	}
	for _, t := range toks {
		switch {
		case t.special == '<':
			angle = true
			seg = append(seg, t)
		case t.special == '>':
			angle = false
			seg = append(seg, t)
		case angle:
			seg = append(seg, t)
		case t.special == ',':
			flush()
		case t.special == ':' && !inGroup && !hasSpecial(seg, '@'):
			out = append(out, Address{GroupStart: true, Mailbox: phrase(seg)})
			seg = seg[:0]
			inGroup = true
		case t.special == ';':
			flush()
			if inGroup {
				out = append(out, Address{GroupEnd: true})
				inGroup = false
			}
		default:
			seg = append(seg, t)
		}
	}
	flush()
	if inGroup {
		out = append(out, Address{GroupEnd: true})
	}
	return out
}

func hasSpecial(seg []addrToken, c byte) bool {
	for _, t := range seg {
		if t.special == c {
			return true
		}
	}
	return false
}

// phrase joins display-name words, keeping spacing as written.
func phrase(seg []addrToken) string {
	var b strings.Builder
	for _, t := range seg {
		if t.special == '(' {
			continue
		}
		if b.Len() > 0 && t.space {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return strings.TrimSpace(b.String())
}

// segmentAddress turns the tokens of one mailbox into an Address.
func segmentAddress(seg []addrToken) (Address, bool) {
	var comment string
	words := 0
	for _, t := range seg {
		if t.special == '(' {
			comment = t.text
		} else {
			words++
		}
	}
	if words == 0 {
		return Address{}, false
	}
	lt := -1
	for i, t := range seg {
		if t.special == '<' {
			lt = i
			break
		}
	}
	var a Address
	spec := seg
	if lt >= 0 {
		a.Name = phrase(seg[:lt])
		spec = seg[lt+1:]
		for i, t := range spec {
			if t.special == '>' {
				spec = spec[:i]
				break
			}
		}
		// Obsolete route (RFC 5322 §4.4): "@a,@b:" before the addr-spec.
		if colon := indexSpecial(spec, ':'); colon >= 0 && len(spec) > 0 && spec[0].special == '@' {
			a.ADL = joinRaw(spec[:colon])
			spec = spec[colon+1:]
		}
	} else {
		a.Name = comment
	}
	at := -1
	for i := len(spec) - 1; i >= 0; i-- {
		if spec[i].special == '@' {
			at = i
			break
		}
	}
	if at >= 0 {
		a.Mailbox = joinRaw(spec[:at])
		a.Host = joinRaw(spec[at+1:])
	} else {
		a.Mailbox = joinRaw(spec)
	}
	return a, true
}

func indexSpecial(seg []addrToken, c byte) int {
	for i, t := range seg {
		if t.special == c {
			return i
		}
	}
	return -1
}

// joinRaw concatenates tokens as written, without white space (local parts,
// domains, routes).
func joinRaw(seg []addrToken) string {
	var b strings.Builder
	for _, t := range seg {
		if t.special == '(' {
			continue
		}
		if t.special == 0 && len(t.raw) >= 2 && t.raw[0] == '"' {
			// A quoted local part: keep it quoted only if it needs to be.
			if isDotAtomText(t.text) {
				b.WriteString(t.text)
				continue
			}
		}
		b.WriteString(t.raw)
	}
	return b.String()
}

func isDotAtomText(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte(`()<>[]:;@\,"`, c) >= 0 {
			return false
		}
	}
	return true
}
