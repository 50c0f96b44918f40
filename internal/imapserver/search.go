package imapserver

import (
	"sort"
	"time"

	"pochta/internal/message"
	"pochta/internal/store"
)

const searchChunk = 1000 // messages of metadata loaded per round

// searchHit is one matching message.
type searchHit struct {
	seq, uid uint32
	modseq   uint64
}

// runSearch evaluates a search program over the messages the client
// knows, in ascending order. Text keys are answered by store.Search (an
// index); flags, dates and sizes by streaming metadata in rounds; only
// SENT* keys read message headers.
func (s *session) runSearch(key *searchKey) ([]searchHit, error) {
	sel := s.sel
	if err := s.prepareText(key, map[textQuery][]uint32{}); err != nil {
		return nil, err
	}
	meta, content := key.needs()
	var hits []searchHit
	if !meta {
		for i, u := range sel.uids {
			if s.eval(key, uint32(i+1), u, nil, nil) {
				hits = append(hits, searchHit{seq: uint32(i + 1), uid: u})
			}
		}
		return hits, nil
	}
	var batch []store.Message
	for start := 0; start < len(sel.uids); start += searchChunk {
		end := min(start+searchChunk, len(sel.uids))
		batch = batch[:0]
		set := store.UIDSet{{Start: sel.uids[start], Stop: sel.uids[end-1]}}
		err := s.srv.opts.Store.Messages(s.ctx, sel.mbox.ID, set, func(m store.Message) error {
			batch = append(batch, m)
			return nil
		})
		if err != nil {
			return nil, err
		}
		for i := range batch {
			m := &batch[i]
			seq, ok := sel.seqOf(m.UID)
			if !ok {
				continue
			}
			var loader func() *message.Message
			if content {
				var cached *message.Message
				loader = func() *message.Message {
					if cached == nil {
						cached = s.loadHeader(m.UID)
					}
					return cached
				}
			}
			if s.eval(key, seq, m.UID, m, loader) {
				hits = append(hits, searchHit{seq: seq, uid: m.UID, modseq: m.ModSeq})
			}
		}
	}
	return hits, nil
}

// maxTextKeys bounds the different text keys of one search: each is an
// index query over the whole mailbox.
const maxTextKeys = 100

// textQuery is one text key's question to the index.
type textQuery struct {
	field store.SearchField
	value string
}

// prepareText runs the store's text index once for every different text
// key; more than maxTextKeys of them are refused (RFC 5530 LIMIT).
func (s *session) prepareText(k *searchKey, done map[textQuery][]uint32) error {
	if k.op == sText {
		q := textQuery{k.field, k.value}
		hits, ok := done[q]
		if !ok {
			if len(done) >= maxTextKeys {
				return no("LIMIT", "Too many different text search keys")
			}
			var err error
			if hits, err = s.srv.opts.Store.Search(s.ctx, s.sel.mbox.ID, k.field, k.value); err != nil {
				return err
			}
			done[q] = hits
		}
		k.hits = hits
	}
	for _, c := range k.kids {
		if err := s.prepareText(c, done); err != nil {
			return err
		}
	}
	return nil
}

// loadHeader reads and parses the header of one message (for SENT* keys
// and SORT); the body is not needed.
func (s *session) loadHeader(uid uint32) *message.Message {
	rc, err := s.srv.opts.Store.Open(s.ctx, s.sel.mbox.ID, uid)
	if err != nil {
		return message.Parse(nil)
	}
	defer rc.Close()
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	for len(buf) < 1<<20 {
		n, err := rc.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if headerEnd(buf) || err != nil {
			break
		}
	}
	return message.Parse(buf)
}

func headerEnd(b []byte) bool {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\n' && (b[i+1] == '\n' || (b[i+1] == '\r' && i+2 < len(b) && b[i+2] == '\n')) {
			return true
		}
	}
	return false
}

func day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (s *session) eval(k *searchKey, seq, uid uint32, m *store.Message, msg func() *message.Message) bool {
	sel := s.sel
	switch k.op {
	case sAll:
		return true
	case sNone:
		return false
	case sAnd:
		for _, c := range k.kids {
			if !s.eval(c, seq, uid, m, msg) {
				return false
			}
		}
		return true
	case sOr:
		return s.eval(k.kids[0], seq, uid, m, msg) || s.eval(k.kids[1], seq, uid, m, msg)
	case sNot:
		return !s.eval(k.kids[0], seq, uid, m, msg)
	case sSeq, sUID:
		if k.set.saved {
			i := sort.Search(len(sel.saved), func(i int) bool { return sel.saved[i] >= uid })
			return i < len(sel.saved) && sel.saved[i] == uid
		}
		n, star := uid, sel.maxUID()
		if k.op == sSeq {
			n, star = seq, uint32(len(sel.uids))
		}
		if !k.resolved {
			k.ranges, k.resolved = k.set.resolve(star, star), true
		}
		return inRanges(k.ranges, n)
	case sFlag:
		return m.HasFlag(k.flag)
	case sNoFlag:
		return !m.HasFlag(k.flag)
	case sBefore:
		return day(m.InternalDate).Before(k.date)
	case sOn:
		return day(m.InternalDate).Equal(k.date)
	case sSince:
		return !day(m.InternalDate).Before(k.date)
	case sSentBefore, sSentOn, sSentSince:
		d := msg().Date()
		if d.IsZero() {
			d = m.InternalDate
		}
		d = day(d)
		switch k.op {
		case sSentBefore:
			return d.Before(k.date)
		case sSentOn:
			return d.Equal(k.date)
		}
		return !d.Before(k.date)
	case sLarger:
		return m.Size > k.n
	case sSmaller:
		return m.Size < k.n
	case sText:
		i := sort.Search(len(k.hits), func(i int) bool { return k.hits[i] >= uid })
		return i < len(k.hits) && k.hits[i] == uid
	case sModSeq:
		return m.ModSeq >= k.modseq
	case sRecent:
		return sel.isRecent(uid)
	}
	return false
}
