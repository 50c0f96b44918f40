package imapserver

import (
	"strings"
	"time"

	"pochta/internal/store"
)

// searchOp is the kind of one search key (RFC 9051 §6.4.4).
type searchOp int

const (
	sAll searchOp = iota
	sNone
	sAnd
	sOr
	sNot
	sSeq
	sUID
	sFlag
	sNoFlag
	sBefore
	sOn
	sSince
	sSentBefore
	sSentOn
	sSentSince
	sLarger
	sSmaller
	sText
	sModSeq
	sRecent // \Recent in this session (RFC 3501 §2.3.2)
)

// searchKey is a node of a parsed search program.
type searchKey struct {
	op     searchOp
	kids   []*searchKey
	set    seqSet
	flag   string
	date   time.Time // a calendar day, at 00:00 UTC
	n      int64
	modseq uint64
	field  store.SearchField
	value  string
	hits   []uint32 // sText: ascending UIDs from store.Search
	// ranges is set resolved for the current search (sSeq, sUID), so
	// each message costs a binary search, not a walk of every range.
	ranges   []seqRange
	resolved bool
}

// maxSearchKeys bounds the nodes of one search program: each is evaluated
// for every message of the mailbox, and each text key is an index query.
const maxSearchKeys = 1000

// size counts the nodes of a search program.
func (k *searchKey) size() int {
	n := 1
	for _, c := range k.kids {
		n += c.size()
	}
	return n
}

var months = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

// searchDate reads date = date-text / DQUOTE date-text DQUOTE, with
// date-text = date-day "-" date-month "-" date-year.
func (p *parser) searchDate() (time.Time, error) {
	var s string
	var err error
	if p.peek() == '"' {
		s, err = p.quoted()
	} else {
		s = p.takeWhile(func(c byte) bool { return c == '-' || isAtomChar(c) })
	}
	if err != nil {
		return time.Time{}, err
	}
	parts := strings.Split(s, "-")
	if len(parts) != 3 || len(parts[0]) < 1 || len(parts[0]) > 2 || len(parts[2]) != 4 {
		return time.Time{}, errSyntax("bad date")
	}
	day, year := atoiSmall(parts[0]), atoiSmall(parts[2])
	mon := -1
	for i, m := range months {
		if strings.EqualFold(parts[1], m) {
			mon = i
		}
	}
	if day < 1 || day > 31 || mon < 0 || year < 0 {
		return time.Time{}, errSyntax("bad date")
	}
	return time.Date(year, time.Month(mon+1), day, 0, 0, 0, 0, time.UTC), nil
}

func atoiSmall(s string) int {
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// searchKeys reads one or more space-separated keys, ANDed, until the end
// of the command or a closing parenthesis.
func (p *parser) searchKeys(depth int) (*searchKey, error) {
	and := &searchKey{op: sAnd}
	for {
		k, err := p.searchKey(depth)
		if err != nil {
			return nil, err
		}
		and.kids = append(and.kids, k)
		if len(and.kids) > 1000 {
			return nil, errSyntax("too many search keys")
		}
		if p.eof() || p.peek() == ')' {
			break
		}
		if err := p.sp(); err != nil {
			return nil, err
		}
	}
	if depth == 0 && and.size() > maxSearchKeys {
		return nil, errSyntax("search program too large")
	}
	if len(and.kids) == 1 {
		return and.kids[0], nil
	}
	return and, nil
}

func (p *parser) searchKey(depth int) (*searchKey, error) {
	if depth > maxDepth {
		return nil, errSyntax("search nesting too deep")
	}
	c := p.peek()
	if c == '(' {
		p.pos++
		k, err := p.searchKeys(depth + 1)
		if err != nil {
			return nil, err
		}
		return k, p.expect(')')
	}
	if c == '*' || c == '$' || (c >= '0' && c <= '9') {
		set, err := p.seqSet()
		return &searchKey{op: sSeq, set: set}, err
	}
	word, err := p.keyword()
	if err != nil {
		return nil, err
	}
	flagKey := func(op searchOp, flag string) (*searchKey, error) {
		return &searchKey{op: op, flag: flag}, nil
	}
	textKey := func(field store.SearchField) (*searchKey, error) {
		if err := p.sp(); err != nil {
			return nil, err
		}
		v, err := p.astring()
		return &searchKey{op: sText, field: field, value: v}, err
	}
	dateKey := func(op searchOp) (*searchKey, error) {
		if err := p.sp(); err != nil {
			return nil, err
		}
		d, err := p.searchDate()
		return &searchKey{op: op, date: d}, err
	}
	sizeKey := func(op searchOp) (*searchKey, error) {
		if err := p.sp(); err != nil {
			return nil, err
		}
		n, err := p.number64()
		return &searchKey{op: op, n: int64(n)}, err
	}
	switch word {
	case "ALL":
		return &searchKey{op: sAll}, nil
	case "ANSWERED":
		return flagKey(sFlag, `\Answered`)
	case "DELETED":
		return flagKey(sFlag, `\Deleted`)
	case "DRAFT":
		return flagKey(sFlag, `\Draft`)
	case "FLAGGED":
		return flagKey(sFlag, `\Flagged`)
	case "SEEN":
		return flagKey(sFlag, `\Seen`)
	case "UNANSWERED":
		return flagKey(sNoFlag, `\Answered`)
	case "UNDELETED":
		return flagKey(sNoFlag, `\Deleted`)
	case "UNDRAFT":
		return flagKey(sNoFlag, `\Draft`)
	case "UNFLAGGED":
		return flagKey(sNoFlag, `\Flagged`)
	case "UNSEEN":
		return flagKey(sNoFlag, `\Seen`)
	case "KEYWORD", "UNKEYWORD":
		if err := p.sp(); err != nil {
			return nil, err
		}
		kw, err := p.flag()
		if err != nil {
			return nil, err
		}
		if word == "KEYWORD" {
			return flagKey(sFlag, kw)
		}
		return flagKey(sNoFlag, kw)
	case "RECENT":
		return &searchKey{op: sRecent}, nil
	case "NEW":
		// RECENT UNSEEN (RFC 3501 §6.4.4).
		unseen, _ := flagKey(sNoFlag, `\Seen`)
		return &searchKey{op: sAnd, kids: []*searchKey{{op: sRecent}, unseen}}, nil
	case "OLD":
		return &searchKey{op: sNot, kids: []*searchKey{{op: sRecent}}}, nil
	case "BCC":
		return textKey(store.SearchBcc)
	case "BODY":
		return textKey(store.SearchBody)
	case "CC":
		return textKey(store.SearchCc)
	case "FROM":
		return textKey(store.SearchFrom)
	case "SUBJECT":
		return textKey(store.SearchSubject)
	case "TEXT":
		return textKey(store.SearchText)
	case "TO":
		return textKey(store.SearchTo)
	case "HEADER":
		if err := p.sp(); err != nil {
			return nil, err
		}
		name, err := p.astring()
		if err != nil {
			return nil, err
		}
		if name == "" || strings.ContainsAny(name, ": \t\r\n") {
			return nil, errSyntax("bad header name")
		}
		k, err := textKey(store.SearchHeader + store.SearchField(strings.ToLower(name)))
		return k, err
	case "BEFORE":
		return dateKey(sBefore)
	case "ON":
		return dateKey(sOn)
	case "SINCE":
		return dateKey(sSince)
	case "SENTBEFORE":
		return dateKey(sSentBefore)
	case "SENTON":
		return dateKey(sSentOn)
	case "SENTSINCE":
		return dateKey(sSentSince)
	case "LARGER":
		return sizeKey(sLarger)
	case "SMALLER":
		return sizeKey(sSmaller)
	case "UID":
		if err := p.sp(); err != nil {
			return nil, err
		}
		set, err := p.seqSet()
		return &searchKey{op: sUID, set: set}, err
	case "NOT":
		if err := p.sp(); err != nil {
			return nil, err
		}
		k, err := p.searchKey(depth + 1)
		if err != nil {
			return nil, err
		}
		return &searchKey{op: sNot, kids: []*searchKey{k}}, nil
	case "OR":
		if err := p.sp(); err != nil {
			return nil, err
		}
		a, err := p.searchKey(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := p.sp(); err != nil {
			return nil, err
		}
		b, err := p.searchKey(depth + 1)
		if err != nil {
			return nil, err
		}
		return &searchKey{op: sOr, kids: []*searchKey{a, b}}, nil
	case "MODSEQ":
		// MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162 §3.1.5)
		if err := p.sp(); err != nil {
			return nil, err
		}
		if p.peek() == '"' {
			if _, err := p.quoted(); err != nil {
				return nil, err
			}
			if err := p.sp(); err != nil {
				return nil, err
			}
			t, err := p.keyword()
			if err != nil {
				return nil, err
			}
			if t != "PRIV" && t != "SHARED" && t != "ALL" {
				return nil, errSyntax("bad MODSEQ entry type")
			}
			if err := p.sp(); err != nil {
				return nil, err
			}
		}
		n, err := p.number64()
		return &searchKey{op: sModSeq, modseq: n}, err
	}
	return nil, errSyntax("unknown search key " + word)
}

// usesModSeq reports whether a MODSEQ key occurs (RFC 7162 §3.1.5).
func (k *searchKey) usesModSeq() bool {
	if k.op == sModSeq {
		return true
	}
	for _, c := range k.kids {
		if c.usesModSeq() {
			return true
		}
	}
	return false
}

// needs reports whether evaluation needs per-message metadata and content.
func (k *searchKey) needs() (meta, content bool) {
	switch k.op {
	case sFlag, sNoFlag, sBefore, sOn, sSince, sLarger, sSmaller, sModSeq:
		meta = true
	case sSentBefore, sSentOn, sSentSince:
		meta, content = true, true
	}
	for _, c := range k.kids {
		m, ct := c.needs()
		meta, content = meta || m, content || ct
	}
	return meta, content
}
