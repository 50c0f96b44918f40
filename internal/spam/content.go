package spam

import (
	"bytes"
	"net/mail"
	"strings"
	"unicode"

	"pochta/internal/checks"
)

// gtube is the Generic Test for Unsolicited Bulk Email: a message that
// contains it is spam for every filter (SpamAssassin, Rspamd).
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

func hasGTUBE(content []byte) bool { return bytes.Contains(content, []byte(gtube)) }

// Weights of the built-in content checks: small, so that they only tip a
// message that something else already made suspicious.
const (
	scoreNoDate       = 0.5
	scoreNoMessageID  = 0.5
	scoreBadFrom      = 1.5
	scoreNoSubject    = 0.5
	scoreCapsSubject  = 1.0
	minCapsSubjectLen = 10 // letters; "HI" or "FYI" are not shouting
)

// contentSymbols runs the built-in checks of the header (RFC 5322 §3.6:
// Date and From are required, Message-ID should be there).
func contentSymbols(content []byte) []checks.Symbol {
	h := parseHeader(content)
	var out []checks.Symbol
	if len(h.values("Date")) == 0 {
		out = append(out, checks.Symbol{Name: "MISSING_DATE", Score: scoreNoDate, Detail: "no Date header (RFC 5322 §3.6.1)"})
	}
	if len(h.values("Message-ID")) == 0 {
		out = append(out, checks.Symbol{Name: "MISSING_MID", Score: scoreNoMessageID, Detail: "no Message-ID header (RFC 5322 §3.6.4)"})
	}
	from := h.values("From")
	if len(from) != 1 || !validFrom(from[0]) {
		out = append(out, checks.Symbol{Name: "FROM_INVALID", Score: scoreBadFrom, Detail: "From header missing, repeated or without a valid address (RFC 5322 §3.6.2)"})
	}
	subj := h.values("Subject")
	switch {
	case len(subj) == 0 || strings.TrimSpace(subj[0]) == "":
		out = append(out, checks.Symbol{Name: "EMPTY_SUBJECT", Score: scoreNoSubject, Detail: "no or empty Subject"})
	case allCaps(decodeHeader(subj[0])):
		out = append(out, checks.Symbol{Name: "SUBJ_ALL_CAPS", Score: scoreCapsSubject, Detail: "Subject in capitals"})
	}
	return out
}

func validFrom(v string) bool {
	list, err := mail.ParseAddressList(decodeHeader(v))
	if err != nil || len(list) == 0 {
		return false
	}
	for _, a := range list {
		at := strings.LastIndexByte(a.Address, '@')
		if at <= 0 || at == len(a.Address)-1 || !strings.Contains(a.Address[at:], ".") {
			return false
		}
	}
	return true
}

func allCaps(s string) bool {
	letters := 0
	for _, r := range s {
		if unicode.IsLower(r) {
			return false
		}
		if unicode.IsUpper(r) {
			letters++
		}
	}
	return letters >= minCapsSubjectLen
}

// header is a message's header fields in order, unfolded.
type header []struct{ name, value string }

// parseHeader reads the header section of content, leniently (a line that
// is neither a field nor a continuation is skipped).
func parseHeader(content []byte) header {
	var h header
	for len(content) > 0 {
		line, rest := cutLine(content)
		content = rest
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(h) > 0 {
				h[len(h)-1].value += " " + strings.TrimSpace(string(line))
			}
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		h = append(h, struct{ name, value string }{string(bytes.TrimSpace(k)), strings.TrimSpace(string(v))})
	}
	return h
}

func (h header) values(name string) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value)
		}
	}
	return out
}

// cutLine splits off the first line, its line end included.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i+1], b[i+1:]
	}
	return b, nil
}

// StripSpamHeaders removes X-Spam and X-Spam-Score fields that arrived
// from outside (they must never be trusted: the MDA files on X-Spam).
// Only the header section is touched; continuation lines go with their
// field.
func StripSpamHeaders(content []byte) []byte {
	return stripFields(content, func(name string) bool {
		return strings.EqualFold(name, "X-Spam") || strings.EqualFold(name, "X-Spam-Score")
	})
}

// stripFields returns content without the header fields drop selects. It
// returns content itself when nothing is dropped.
func stripFields(content []byte, drop func(name string) bool) []byte {
	var out []byte
	rest := content
	dropping := false
	for len(rest) > 0 {
		line, next := cutLine(rest)
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // end of header
		}
		cont := line[0] == ' ' || line[0] == '\t'
		if !cont {
			name, _, ok := bytes.Cut(line, []byte(":"))
			dropping = ok && drop(string(bytes.TrimRight(name, " \t")))
		}
		if dropping && out == nil {
			out = append(make([]byte, 0, len(content)), content[:len(content)-len(rest)]...)
		}
		if !dropping && out != nil {
			out = append(out, line...)
		}
		rest = next
	}
	if out == nil {
		return content
	}
	return append(out, rest...)
}
