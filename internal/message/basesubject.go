package message

import "strings"

// BaseSubject extracts the base subject of a Subject value as defined by
// RFC 5256 §2.1, for SORT SUBJECT and THREAD=ORDEREDSUBJECT. Encoded-words
// are decoded to UTF-8 and white space is normalised; reply/forward leaders
// ("Re:", "Fwd:", "[list]"), "(fwd)" trailers and "[fwd: ...]" wrappers are
// removed. Case is preserved: compare results case-insensitively
// (i;ascii-casemap / i;unicode-casemap), e.g. with CaseMap keys.
func BaseSubject(subject string) string {
	base, _ := BaseSubjectReply(subject)
	return base
}

// BaseSubjectReply is BaseSubject that also reports whether the subject
// is a reply or forward, which THREAD=REFERENCES needs (RFC 5256 §2.1:
// the extraction removed a subj-refwd in step 3, a "(fwd)" subj-trailer in
// step 2 or a subj-fwd-hdr/subj-fwd-trl wrapper in step 6).
func BaseSubjectReply(subject string) (base string, reply bool) {
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
				s, reply = s[:len(s)-5], true
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
				s, changed, reply = s[n:], true, true
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
			s, reply = s[5:len(s)-1], true
			continue
		}
		return s, reply
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

// CaseMap folds s for the case-insensitive comparisons of SORT and THREAD.
// The collation of RFC 5256 §3 is i;ascii-casemap, which maps a-z to A-Z,
// so keys are upper-cased (not lower-cased): "_" and "[" sort after
// letters as they do in Dovecot. Non-ASCII letters are upper-cased too, a
// simple approximation of i;unicode-casemap (RFC 5051) titlecasing.
func CaseMap(s string) string { return strings.ToUpper(s) }
