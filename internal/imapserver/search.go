package imapserver

import (
	"sort"
	"time"

	"pochta/internal/message"
	"pochta/internal/store"
)

const searchChunk = 1000 // messages of metadata loaded per round

// narrowChunk is the round of a search that loads only a text key's
// scattered hits: few enough UIDs that the store looks each range up by
// index instead of reading everything between the first and the last.
const narrowChunk = 32

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
	// Only the messages a text key matched can match the whole key when
	// it is a text key or an AND with one: walk those (a binary search
	// each), not every message of the mailbox.
	cand, narrowed := candidates(key)
	var hits []searchHit
	if !meta {
		if narrowed {
			for _, u := range cand {
				if seq, ok := sel.seqOf(u); ok && s.eval(key, seq, u, nil, nil) {
					hits = append(hits, searchHit{seq: seq, uid: u})
				}
			}
			return hits, nil
		}
		for i, u := range sel.uids {
			if s.eval(key, uint32(i+1), u, nil, nil) {
				hits = append(hits, searchHit{seq: uint32(i + 1), uid: u})
			}
		}
		return hits, nil
	}
	if !narrowed {
		cand = sel.uids
	}
	chunk := searchChunk
	if narrowed {
		chunk = narrowChunk
	}
	var batch []store.Message
	for start := 0; start < len(cand); start += chunk {
		end := min(start+chunk, len(cand))
		batch = batch[:0]
		set := store.UIDSet{{Start: cand[start], Stop: cand[end-1]}}
		if narrowed {
			set = uidSetOf(cand[start:end])
		}
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

// candidates returns the ascending UIDs outside which key cannot match,
// when it knows them: the hits of a text key, or of the text key of an AND
// with the fewest hits. ok is false when any message may match.
func candidates(k *searchKey) (uids []uint32, ok bool) {
	switch k.op {
	case sText:
		return k.hits, true
	case sAnd:
		for _, c := range k.kids {
			if u, cok := candidates(c); cok && (!ok || len(u) < len(uids)) {
				uids, ok = u, true
			}
		}
	}
	return uids, ok
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
