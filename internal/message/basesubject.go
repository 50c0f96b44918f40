package message

import "strings"

// BaseSubject extracts the base subject of a Subject value as defined by
// RFC 5256 §2.1, for SORT SUBJECT and THREAD=ORDEREDSUBJECT. Encoded-words
// are decoded to UTF-8 and white space is normalised; reply/forward leaders
// ("Re:", "Fwd:", "[list]"), "(fwd)" trailers and "[fwd: ...]" wrappers are
// removed. Case is preserved: compare results case-insensitively
// (i;ascii-casemap / i;unicode-casemap), e.g. with strings.ToUpper keys.
func BaseSubject(subject string) string {
	// (1) Decode, convert tabs and continuations to space, collapse spaces.
	s := strings.Join(strings.FieldsFunc(decodeHeader(subject), func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}), " ")
	for {
		// (2) Remove trailing subj-trailer = "(fwd)" / WSP, repeatedly.
		for {
			if strings.HasSuffix(s, " ") {
				s = s[:len(s)-1]
			} else if len(s) >= 5 && strings.EqualFold(s[len(s)-5:], "(fwd)") {
				s = s[:len(s)-5]
			} else {
				break
			}
		}
		// (3)-(5) Remove subj-leader and subj-blob prefixes until stable.
		for {
			changed := false
			if strings.HasPrefix(s, " ") {
				s, changed = s[1:], true
			} else if n := refwdLeader(s); n > 0 {
				s, changed = s[n:], true
			}
			if n := blob(s); n > 0 && strings.TrimSpace(s[n:]) != "" {
				s, changed = s[n:], true
			}
			if !changed {
				break
			}
		}
		// (6) "[fwd:" ... "]" wrapper: strip and start again at (2).
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s = s[5 : len(s)-1]
			continue
		}
		return s
	}
}

// blob matches subj-blob = "[" *BLOBCHAR "]" *WSP at the start of s and
// returns its length, or 0.
func blob(s string) int {
	if !strings.HasPrefix(s, "[") {
		return 0
	}
	i := 1
	for i < len(s) && s[i] != '[' && s[i] != ']' {
		i++
	}
	if i >= len(s) || s[i] != ']' {
		return 0
	}
	i++
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// refwdLeader matches *subj-blob subj-refwd at the start of s, where
// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":", and returns its
// length, or 0.
func refwdLeader(s string) int {
	i := 0
	for {
		n := blob(s[i:])
		if n == 0 {
			break
		}
		i += n
	}
	for _, word := range []string{"fwd", "fw", "re"} {
		if n := refwd(s[i:], word); n > 0 {
			return i + n
		}
	}
	return 0
}

func refwd(s, word string) int {
	if len(s) < len(word) || !strings.EqualFold(s[:len(word)], word) {
		return 0
	}
	i := len(word)
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	i += blob(s[i:])
	if i < len(s) && s[i] == ':' {
		return i + 1
	}
	return 0
}
