package message

import (
	"bytes"
	"encoding/base64"
	"sort"
	"strings"
)

// base64Line is the number of encoded characters per line (RFC 2045 §6.8
// allows at most 76).
const base64Line = 76

// EncodeBinaryParts returns raw with every leaf MIME part whose
// Content-Transfer-Encoding is "binary" re-encoded in base64 (RFC 2045
// §6.8) and its Content-Transfer-Encoding field saying so; raw itself when
// no part is binary. Binary content may hold NUL octets and bare CR or LF,
// which an IMAP string cannot carry (RFC 9051 §4.3.1: binary data is sent
// encoded, only BINARY[] may return it raw, as literal8): a client that
// APPENDs such a message (RFC 3516 §4.4) then reads the encoded text in
// BODY[] and the original octets in BINARY[], as with Dovecot.
// Multiparts and message/rfc822 containers are left as they are; their
// binary leaves are converted.
func EncodeBinaryParts(raw []byte) []byte {
	m := Parse(raw)
	var parts []*Part
	m.walk(m.root, 0, func(p *Part) bool {
		if p.Children == nil && p.Embedded == nil && p.Encoding == "binary" {
			parts = append(parts, p)
		}
		return true
	})
	if len(parts) == 0 {
		return raw
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Start < parts[j].Start })
	var out bytes.Buffer
	out.Grow(len(raw) + len(raw)/2)
	pos := 0
	for _, p := range parts {
		for _, f := range p.header {
			if strings.EqualFold(f.name, "content-transfer-encoding") {
				out.Write(raw[pos:f.valueStart])
				out.WriteString(" base64\r\n")
				pos = f.end
			}
		}
		out.Write(raw[pos:p.BodyStart])
		writeBase64Lines(&out, raw[p.BodyStart:p.End])
		if p.End == len(raw) {
			out.WriteString("\r\n")
		}
		pos = p.End
	}
	out.Write(raw[pos:])
	return out.Bytes()
}

// writeBase64Lines writes b in base64, base64Line characters per line,
// lines separated (not terminated) by CRLF: a part's content ends where the
// CRLF of the next boundary delimiter begins (RFC 2046 §5.1.1).
func writeBase64Lines(out *bytes.Buffer, b []byte) {
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(enc, b)
	for i := 0; i < len(enc); i += base64Line {
		if i > 0 {
			out.WriteString("\r\n")
		}
		out.Write(enc[i:min(i+base64Line, len(enc))])
	}
}
