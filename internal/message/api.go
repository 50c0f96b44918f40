// Package message is the parsed form of a stored letter (RFC 5322 + MIME,
// RFC 2045-2049) as the IMAP server (RFC 9051 / RFC 3501) needs it: the MIME
// part tree with exact byte offsets into the stored octets, ENVELOPE and
// BODYSTRUCTURE rendering, section extraction for FETCH BODY[...] and
// BINARY[...], and the header/body views SEARCH, SORT (RFC 5256, RFC 5957)
// and THREAD need.
//
// Parsing never fails: malformed input degrades (a broken multipart becomes
// text/plain) and nesting depth and part counts are bounded so hostile input
// cannot explode.
package message

// Limits applied while parsing. Deeper nesting or more parts than these are
// not split further: the offending entity is treated as text/plain.
const (
	MaxDepth = 100   // maximum MIME nesting depth (multipart and message/rfc822)
	MaxParts = 10000 // maximum number of MIME entities in one message
)

// Message is a parsed message. It keeps the raw octets; all sections are
// sub-slices of them (callers must not modify the returned slices).
type Message struct {
	raw  []byte
	root *Part
}

// Part is one MIME entity. Start, BodyStart and End are offsets into the raw
// message: raw[Start:BodyStart] is the entity's header including the blank
// separator line (if present), raw[BodyStart:End] its content.
type Part struct {
	Start, BodyStart, End int

	// Type and Subtype are the effective media type, lower case (defaults
	// and degradations applied: absent or broken Content-Type is text/plain,
	// a multipart without usable boundary is text/plain).
	Type, Subtype string
	// Params are the Content-Type parameters, names lower case, RFC 2231
	// decoded.
	Params map[string]string

	// Children are the body parts of a multipart entity, in order.
	Children []*Part
	// Embedded is the root entity of the encapsulated message of a
	// message/rfc822 (or message/global) part, nil otherwise.
	Embedded *Part

	// Encoding is the Content-Transfer-Encoding, lower case, "7bit" when
	// absent.
	Encoding string

	// Lines is the number of lines of the content (raw[BodyStart:End]).
	Lines int

	header []field
}

// Envelope is the parsed ENVELOPE of a message (RFC 9051 §7.5.2). String
// fields hold the raw (unfolded, not RFC 2047 decoded) header values; a field
// that is absent is the empty string and rendered as NIL.
type Envelope struct {
	Date, Subject                      string
	From, Sender, ReplyTo, To, Cc, Bcc []Address
	InReplyTo, MessageID               string
}

// Address is one element of an ENVELOPE address list. Group syntax
// (RFC 5322 §3.4) is represented as in RFC 9051: a group start has
// GroupStart set and Mailbox holding the group name, a group end has GroupEnd
// set and all other fields empty.
type Address struct {
	Name, ADL, Mailbox, Host string // Name is the raw phrase (encoded-words kept)
	GroupStart, GroupEnd     bool
}

// Section names a body section of FETCH BODY[...] (RFC 9051 §6.4.5).
// Part is the part path ([1 2] for "1.2", empty for the whole message),
// Specifier one of "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT",
// "TEXT", "MIME" (case-insensitive), and Fields the field names for the
// HEADER.FIELDS variants.
type Section struct {
	Part      []int
	Specifier string
	Fields    []string
}
