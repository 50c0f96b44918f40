package imapserver

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"pochta/internal/message"
	"pochta/internal/store"
)

// sortCriterion is one SORT key (RFC 5256 §3, RFC 5957).
type sortCriterion struct {
	key     string
	reverse bool
}

// sortRec holds the sort keys of one message.
type sortRec struct {
	seq, uid  uint32
	arrival   time.Time
	size      int64
	date      time.Time
	subject   string // base subject, case-mapped (message.CaseMap)
	reply     bool   // the subject is a reply or forward (RFC 5256 §2.1)
	addr      map[string]string
	refs      []string
	messageID string
}

// cmdSort: SORT and UID SORT (RFC 5256 §3) with DISPLAYFROM/DISPLAYTO
// (RFC 5957).
func (s *session) cmdSort(tag string, p *parser, uid bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	if err := p.expect('('); err != nil {
		return "", err
	}
	var crit []sortCriterion
	reverse := false
	for first := true; !p.accept(')'); first = false {
		if !first {
			if err := p.sp(); err != nil {
				return "", err
			}
		}
		k, err := p.keyword()
		if err != nil {
			return "", err
		}
		switch k {
		case "REVERSE":
			if reverse {
				return "", errSyntax("REVERSE REVERSE")
			}
			reverse = true
			continue
		case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO":
		default:
			return "", errSyntax("unknown sort key " + k)
		}
		if len(crit) > 20 {
			return "", errSyntax("too many sort keys")
		}
		crit = append(crit, sortCriterion{k, reverse})
		reverse = false
	}
	if len(crit) == 0 || reverse {
		return "", errSyntax("bad sort criteria")
	}
	hits, err := s.charsetSearch(p)
	if err != nil {
		return "", err
	}
	needMeta, needContent := false, false
	for _, c := range crit {
		switch c.key {
		case "ARRIVAL", "SIZE":
			needMeta = true
		default:
			needMeta, needContent = true, true // DATE falls back to arrival
		}
	}
	recs, err := s.sortRecords(hits, needMeta, needContent)
	if err != nil {
		return "", err
	}
	sort.SliceStable(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		for _, c := range crit {
			d := compareBy(c.key, a, b)
			if c.reverse {
				d = -d
			}
			if d != 0 {
				return d < 0
			}
		}
		return a.seq < b.seq
	})
	var sb strings.Builder
	sb.WriteString("SORT")
	for _, r := range recs {
		sb.WriteByte(' ')
		n := r.seq
		if uid {
			n = r.uid
		}
		sb.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	s.w.untagged(sb.String())
	return "SORT completed", nil
}

func compareBy(key string, a, b *sortRec) int {
	switch key {
	case "ARRIVAL":
		return a.arrival.Compare(b.arrival)
	case "SIZE":
		return cmpInt(a.size, b.size)
	case "DATE":
		return a.date.Compare(b.date)
	case "SUBJECT":
		return strings.Compare(a.subject, b.subject)
	default:
		return strings.Compare(a.addr[key], b.addr[key])
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortRecords loads the metadata and header-derived keys of the hits.
func (s *session) sortRecords(hits []searchHit, meta, content bool) ([]*sortRec, error) {
	recs := make([]*sortRec, len(hits))
	byUID := make(map[uint32]*sortRec, len(hits))
	uids := make([]uint32, len(hits))
	for i, h := range hits {
		recs[i] = &sortRec{seq: h.seq, uid: h.uid}
		byUID[h.uid] = recs[i]
		uids[i] = h.uid
	}
	if meta {
		for start := 0; start < len(uids); start += searchChunk {
			chunk := uids[start:min(start+searchChunk, len(uids))]
			err := s.srv.opts.Store.Messages(s.ctx, s.sel.mbox.ID, uidSetOf(chunk), func(m store.Message) error {
				if r := byUID[m.UID]; r != nil {
					r.arrival, r.size = m.InternalDate, m.Size
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	if content {
		for _, r := range recs {
			msg := s.loadHeader(r.uid)
			r.fill(msg)
		}
	}
	return recs, nil
}

// fill computes the header-derived keys (RFC 5256 §2.2 for DATE and the
// base subject).
func (r *sortRec) fill(msg *message.Message) {
	r.date = msg.Date()
	if r.date.IsZero() {
		r.date = r.arrival
	}
	r.date = r.date.UTC()
	base, reply := message.BaseSubjectReply(msg.Subject())
	r.subject, r.reply = message.CaseMap(base), reply
	r.addr = map[string]string{
		"FROM": msg.SortAddress("from"), "TO": msg.SortAddress("to"), "CC": msg.SortAddress("cc"),
		"DISPLAYFROM": msg.SortDisplay("from"), "DISPLAYTO": msg.SortDisplay("to"),
	}
	r.messageID = msg.MessageID()
	r.refs = msg.References()
}

// charsetSearch parses the " charset SP search-key..." tail that SORT and
// THREAD share (RFC 5256 §3) and runs the search.
func (s *session) charsetSearch(p *parser) ([]searchHit, error) {
	if err := p.sp(); err != nil {
		return nil, err
	}
	cs, err := p.astring()
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "US-ASCII") {
		return nil, no("BADCHARSET (UTF-8)", "Unsupported charset")
	}
	if err := p.sp(); err != nil {
		return nil, err
	}
	key, err := p.searchKeys(0)
	if err != nil {
		return nil, err
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return s.runSearch(key)
}
