package checks

import (
	"bytes"
	"net/mail"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/net/idna"
)

// field is one header field: its name and its raw bytes, folded lines and
// line ending included, as content[start:end].
type field struct {
	name       string
	start, end int
}

// headerFields splits the header section of content (up to the first
// empty line) into fields. Lines end in CRLF (the SMTP server refuses
// bare LF), but a bare LF is tolerated. A line without a colon that is not
// a continuation ends the header (it is not a header field).
func headerFields(content []byte) []field {
	var out []field
	pos := 0
	for pos < len(content) {
		end := lineEnd(content, pos)
		line := content[pos:end]
		if isBlank(line) {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(out) == 0 {
				break
			}
			out[len(out)-1].end = end
			pos = end
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			break
		}
		name := strings.TrimRight(string(line[:colon]), " \t")
		out = append(out, field{name: name, start: pos, end: end})
		pos = end
	}
	return out
}

// lineEnd returns the index just past the line starting at pos (past its
// LF, or len(b)).
func lineEnd(b []byte, pos int) int {
	if i := bytes.IndexByte(b[pos:], '\n'); i >= 0 {
		return pos + i + 1
	}
	return len(b)
}

func isBlank(line []byte) bool {
	return len(line) == 0 || line[0] == '\n' || (line[0] == '\r' && (len(line) == 1 || line[1] == '\n'))
}

// value returns a field's value unfolded (CR and LF removed) and trimmed.
func (f field) value(content []byte) string {
	raw := content[f.start:f.end]
	raw = raw[bytes.IndexByte(raw, ':')+1:]
	v := strings.NewReplacer("\r\n", "", "\r", "", "\n", "").Replace(string(raw))
	return strings.TrimSpace(v)
}

// header is what the checks need from a message's header.
type header struct {
	// fromDomains are the distinct domains of the RFC5322.From addresses,
	// lower case; fromFields counts the From fields.
	fromDomains []string
	fromFields  int
	// dkimSigs are the DKIM-Signature values in header order.
	dkimSigs []string
}

func parseHeader(content []byte) header {
	var h header
	for _, f := range headerFields(content) {
		switch strings.ToLower(f.name) {
		case "from":
			h.fromFields++
			for _, d := range addressDomains(f.value(content)) {
				if !slices.Contains(h.fromDomains, d) {
					h.fromDomains = append(h.fromDomains, d)
				}
			}
		case "dkim-signature":
			h.dkimSigs = append(h.dkimSigs, f.value(content))
		}
	}
	return h
}

// addressDomains returns the domains of an address list. When the list
// does not parse, the domain after each '@' is taken, so a malformed From
// still gets its domain checked rather than skipping DMARC.
func addressDomains(v string) []string {
	var out []string
	if list, err := mail.ParseAddressList(v); err == nil {
		for _, a := range list {
			if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
				out = append(out, normDomain(a.Address[i+1:]))
			}
		}
		return out
	}
	for rest := v; ; {
		i := strings.IndexByte(rest, '@')
		if i < 0 {
			return out
		}
		rest = rest[i+1:]
		j := 0
		for j < len(rest) && (isAlnum(rest[j]) || rest[j] == '.' || rest[j] == '-') {
			j++
		}
		if j > 0 {
			out = append(out, normDomain(rest[:j]))
		}
	}
}

// normDomain lower-cases d, drops a final dot and turns U-labels into
// A-labels.
func normDomain(d string) string { return aLabels(strings.TrimSuffix(strings.ToLower(d), ".")) }

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// tagList parses a DKIM tag=value list (RFC 6376 §3.2) into a map; values
// keep inner whitespace except for b= and bh=, whose whitespace is removed.
func tagList(v string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		val = strings.TrimSpace(val)
		if k == "b" || k == "bh" {
			val = strings.Join(strings.Fields(val), "")
		}
		out[k] = val
	}
	return out
}

// dnsServer matches the " on 127.0.0.1:53" that DNS errors name their
// server with.
var dnsServer = regexp.MustCompile(` on \[?[0-9a-fA-F.:]+\]?:[0-9]+`)

// reasonText is an error as a reason="..." for the header: without the
// address of our DNS server, which is nobody else's business.
func reasonText(err error) string {
	return dnsServer.ReplaceAllString(err.Error(), "")
}

// aLabels returns domain in its ASCII (A-label) form for DNS, as it is
// when that fails (RFC 5891; SMTPUTF8 mail may carry U-labels).
func aLabels(domain string) string {
	if a, err := idna.Lookup.ToASCII(domain); err == nil {
		return strings.ToLower(a)
	}
	return domain
}
