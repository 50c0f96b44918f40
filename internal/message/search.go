package message

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// maxDecodedText bounds the decoded text searched per part.
const maxDecodedText = 64 << 20

// decodeHeader decodes RFC 2047 encoded-words (with the charsets known to
// go-message/charset); on error the value is returned undecoded.
func decodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	dec := mime.WordDecoder{CharsetReader: charset.Reader}
	s, err := dec.DecodeHeader(v)
	if err != nil {
		return v
	}
	return s
}

// HeaderValues returns the values of all top-level header fields with the
// given name (case-insensitive), unfolded and RFC 2047 decoded.
func (m *Message) HeaderValues(name string) []string {
	vs := m.root.headerValues(m.raw, name)
	for i, v := range vs {
		vs[i] = decodeHeader(v)
	}
	return vs
}

// HeaderContains reports whether any top-level header line ("Name: value",
// unfolded and decoded) contains needle, case-insensitively. Together with
// TextContains it serves SEARCH TEXT.
func (m *Message) HeaderContains(needle string) bool {
	ln := strings.ToLower(needle)
	for _, f := range m.root.header {
		line := f.name + ": " + decodeHeader(unfold(m.raw[f.valueStart:f.end]))
		if strings.Contains(strings.ToLower(line), ln) {
			return true
		}
	}
	return needle == ""
}

// Subject returns the decoded Subject header ("" if absent).
func (m *Message) Subject() string {
	v, _ := m.root.headerValue(m.raw, "subject")
	return decodeHeader(v)
}

// Date returns the time of the Date header (RFC 5322 §3.3, obsolete forms
// tolerated), or the zero time if it is absent or cannot be parsed.
func (m *Message) Date() time.Time {
	v, ok := m.root.headerValue(m.raw, "date")
	if !ok {
		return time.Time{}
	}
	return parseDate(v)
}

var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04 -0700",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04:05",
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 MST 2006",
	time.RFC3339,
}

func parseDate(v string) time.Time {
	if t, err := mail.ParseDate(v); err == nil {
		return t
	}
	s := strings.Join(strings.Fields(stripComments(v)), " ")
	s = strings.TrimSuffix(s, " UT")
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t
		}
	}
	// Day-of-week without comma ("Mon 2 Jan ..."): drop it and retry.
	if i := strings.IndexByte(s, ' '); i > 0 && i <= 4 {
		for _, l := range dateLayouts[1:5] {
			if t, err := time.Parse(l, s[i+1:]); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

// TextContains reports whether the decoded text of the body contains needle,
// case-insensitively (SEARCH BODY). Every text/* leaf part is searched after
// removing its transfer encoding and converting its charset to UTF-8,
// including the parts of encapsulated messages.
func (m *Message) TextContains(needle string) bool {
	if needle == "" {
		return true
	}
	ln := strings.ToLower(needle)
	found := false
	m.walk(m.root, 0, func(p *Part) bool {
		if p.Type != "text" || p.Children != nil || p.Embedded != nil {
			return true
		}
		if strings.Contains(strings.ToLower(m.decodedText(p)), ln) {
			found = true
			return false
		}
		return true
	})
	return found
}

// walk visits p and all its descendants depth-first until fn returns false.
func (m *Message) walk(p *Part, depth int, fn func(*Part) bool) bool {
	if depth > MaxDepth+1 || !fn(p) {
		return false
	}
	for _, c := range p.Children {
		if !m.walk(c, depth+1, fn) {
			return false
		}
	}
	if p.Embedded != nil {
		return m.walk(p.Embedded, depth+1, fn)
	}
	return true
}

// decodedText returns the content of a text part as UTF-8.
func (m *Message) decodedText(p *Part) string {
	body, err := decodeCTE(p.Encoding, m.raw[p.BodyStart:p.End])
	if err != nil {
		body = m.raw[p.BodyStart:p.End]
	}
	cs := strings.ToLower(p.Params["charset"])
	switch cs {
	case "", "us-ascii", "utf-8", "utf8":
		return string(body)
	}
	if utf8.Valid(body) && isASCII(body) {
		return string(body)
	}
	r, err := charset.Reader(cs, bytes.NewReader(body))
	if err != nil {
		return string(body)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxDecodedText))
	if err != nil {
		return string(body)
	}
	return string(out)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// MessageID returns the msg-id of the Message-ID header without the angle
// brackets ("" if absent), for THREAD=REFERENCES (RFC 5256 §2.2).
func (m *Message) MessageID() string {
	v, _ := m.root.headerValue(m.raw, "message-id")
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	if f := strings.Fields(v); len(f) == 1 {
		return strings.Trim(f[0], "<>")
	}
	return ""
}

// References returns the message ids (without angle brackets) of the
// References header in order. If it has none, it returns the first valid id
// of In-Reply-To, as RFC 5256 §2.2 step 1 prescribes for threading.
func (m *Message) References() []string {
	v, _ := m.root.headerValue(m.raw, "references")
	if ids := msgIDs(v); len(ids) > 0 {
		return ids
	}
	v, _ = m.root.headerValue(m.raw, "in-reply-to")
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[:1]
	}
	return nil
}

// MsgIDs returns the msg-ids ("<...>" tokens, without the brackets) of a
// Message-ID, In-Reply-To or References value, in order (RFC 5322 §3.6.4).
func MsgIDs(v string) []string { return msgIDs(v) }

// msgIDs extracts "<...>" tokens that look like msg-ids (RFC 5322 §3.6.4).
func msgIDs(v string) []string {
	var ids []string
	for len(ids) < 10000 {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		id := v[i+1 : i+j]
		v = v[i+j+1:]
		if id != "" && !strings.ContainsAny(id, " \t<") {
			ids = append(ids, id)
		}
	}
	return ids
}

// firstAddress returns the first address of a header as the IMAP
// ENVELOPE lists it: a group's start, whose addr-mailbox is the group name
// (RFC 3501 §7.4.2), counts as an address; a group's end does not.
func (m *Message) firstAddress(field string) (Address, bool) {
	v, ok := m.root.headerValue(m.raw, field)
	if !ok {
		return Address{}, false
	}
	for _, a := range parseAddressList(v) {
		if !a.GroupEnd {
			return a, true
		}
	}
	return Address{}, false
}

// SortAddress returns the sort key for SORT FROM, TO and CC (RFC 5256 §3):
// the addr-mailbox of the first address of that header (for a group, the
// group name, as in ENVELOPE), case-mapped with CaseMap, or "" if there is
// none. field is "from", "to" or "cc".
func (m *Message) SortAddress(field string) string {
	a, ok := m.firstAddress(field)
	if !ok {
		return ""
	}
	return CaseMap(a.Mailbox)
}

// SortDisplay returns the sort key for SORT DISPLAYFROM and DISPLAYTO
// (RFC 5957 §3): the decoded display name of the first address of that
// header when present and not empty, otherwise its addr-spec (mailbox@host,
// or for a group the group name); case-mapped with CaseMap, or "" if there
// is no address. field is "from" or "to".
func (m *Message) SortDisplay(field string) string {
	a, ok := m.firstAddress(field)
	if !ok {
		return ""
	}
	if name := strings.TrimSpace(decodeHeader(a.Name)); name != "" {
		return CaseMap(name)
	}
	if a.Host == "" {
		return CaseMap(decodeHeader(a.Mailbox))
	}
	return CaseMap(a.Mailbox + "@" + a.Host)
}
