package imapserver

import (
	"sort"
	"strconv"
	"strings"

	"pochta/internal/store"
)

// selected is the state of the selected mailbox: its UID list (message
// sequence number n is uids[n-1]; read-only, possibly shared with the
// uidCache and other sessions: changes replace it) and what the client
// has been told.
type selected struct {
	mbox     store.Mailbox
	readOnly bool
	uids     []uint32
	// modseq is the mod-sequence up to which changes have been reported.
	modseq uint64
	dirty  bool // a change may be waiting in the store
	// pending holds UIDs expunged by others that the client has not been
	// told about yet (EXPUNGE is not allowed during FETCH/STORE/SEARCH).
	pending map[uint32]bool
	// reported remembers FETCH FLAGS already sent above modseq, so the
	// next poll does not repeat them.
	reported map[uint32]uint64
	saved    []uint32 // SEARCH RETURN (SAVE) result, RFC 5182
	// recent holds the UID ranges whose \Recent flag this session owns
	// (RFC 3501 §2.3.2): claimed from the store at a read-write SELECT and
	// whenever the session learns of new messages, or, for EXAMINE, the
	// messages still unclaimed when it opened (seen, never taken).
	recent store.UIDSet
	// keywords holds, lower-cased and as spelled when met, every keyword
	// the client has been told of in FLAGS; kwOrder lists them once each,
	// in the order (and spelling) announced.
	// A response never carries a keyword that is not here (RFC 9051
	// §7.3.5, RFC 3501 §7.2.6): announce adds it first.
	keywords map[string]bool
	kwOrder  []string
}

// maxAnnounced bounds the keywords listed in FLAGS; beyond it the session
// stops listing new ones (a client sees them only in FETCH) rather than
// sending ever longer FLAGS responses.
const maxAnnounced = 1000

func newSelected(mb store.Mailbox, readOnly bool, uids []uint32) *selected {
	sel := &selected{mbox: mb, readOnly: readOnly, uids: uids, modseq: mb.HighestModSeq,
		pending: map[uint32]bool{}, reported: map[uint32]uint64{}, keywords: map[string]bool{}}
	// Announced at every SELECT: keywords clients commonly set (RFC 5788
	// registry).
	for _, k := range [...]string{"$Forwarded", "$Junk", "$NotJunk"} {
		sel.keywords[strings.ToLower(k)] = true
		sel.kwOrder = append(sel.kwOrder, k)
	}
	return sel
}

// writeFlags sends FLAGS and PERMANENTFLAGS for the keywords announced so
// far (RFC 9051 §7.1, §7.3.5).
func (s *session) writeFlags(sel *selected) {
	list := `\Answered \Flagged \Deleted \Seen \Draft`
	if len(sel.kwOrder) > 0 {
		list += " " + strings.Join(sel.kwOrder, " ")
	}
	s.w.untagged("FLAGS (" + list + ")")
	if sel.readOnly {
		s.w.untagged(`OK [PERMANENTFLAGS ()] Read-only mailbox`)
	} else {
		s.w.untagged(`OK [PERMANENTFLAGS (` + list + ` \*)] Flags permitted`)
	}
}

// announce makes sure the client has been told of every keyword in flags
// before a response carries them: when one is new, it is added and FLAGS
// and PERMANENTFLAGS are sent again (RFC 9051 §7.3.5: "the server MUST
// send ... FLAGS ... when the set of defined flags changes"). Keywords are
// compared case-insensitively (RFC 9051 §2.3.2).
func (s *session) announce(flags []string) {
	sel := s.sel
	if sel == nil {
		return
	}
	grew := false
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) || len(sel.kwOrder) >= maxAnnounced {
			continue
		}
		if sel.keywords[f] { // as spelled before: no lower-casing
			continue
		}
		// Kept for the session: not a view into a store's buffer
		// (store.FlagLister hands out substrings of a whole chunk).
		f = strings.Clone(f)
		k := strings.ToLower(f)
		if !sel.keywords[k] {
			sel.kwOrder = append(sel.kwOrder, f)
			grew = true
		}
		sel.keywords[k], sel.keywords[f] = true, true
	}
	if grew {
		s.writeFlags(sel)
	}
}

// isRecent reports whether uid is recent in this session.
func (sel *selected) isRecent(uid uint32) bool {
	return inUIDSet(sel.recent, uid)
}

// addRecent records the UIDs first <= uid < next as recent.
func (sel *selected) addRecent(first, next uint32) {
	if first >= next {
		return
	}
	if n := len(sel.recent); n > 0 && sel.recent[n-1].Stop+1 == first {
		sel.recent[n-1].Stop = next - 1
		return
	}
	sel.recent = append(sel.recent, store.UIDRange{Start: first, Stop: next - 1})
}

// recentCount counts the known messages that are recent in this session.
func (sel *selected) recentCount() int {
	n := 0
	for _, r := range sel.recent {
		lo := sort.Search(len(sel.uids), func(i int) bool { return sel.uids[i] >= r.Start })
		hi := sort.Search(len(sel.uids), func(i int) bool { return sel.uids[i] > r.Stop })
		n += hi - lo
	}
	return n
}

// claimRecent takes the \Recent flag of messages that arrived since the
// mailbox's last claim. Only read-write IMAP4rev1 sessions claim: EXAMINE
// must not take the flag (RFC 3501 §6.3.2), and IMAP4rev2 has no \Recent
// (RFC 9051 Appendix E), so a rev2 session leaves it to rev1 clients.
func (s *session) claimRecent() error {
	sel := s.sel
	if sel == nil || sel.readOnly || s.rev2 {
		return nil
	}
	first, next, err := s.srv.opts.Store.ClaimRecent(s.ctx, sel.mbox.ID)
	if err != nil {
		return err
	}
	sel.addRecent(first, next)
	return nil
}

// appendFlags appends a message's flag list, with \Recent for IMAP4rev1
// sessions when this session owns it. \Recent is never stored.
func (s *session) appendFlags(b []byte, m store.Message) []byte {
	b = append(b, '(')
	for i, f := range m.Flags {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, f...)
	}
	if !s.rev2 && s.sel != nil && s.sel.isRecent(m.UID) {
		if len(m.Flags) > 0 {
			b = append(b, ' ')
		}
		b = append(b, `\Recent`...)
	}
	return append(b, ')')
}

func (sel *selected) maxUID() uint32 {
	if len(sel.uids) == 0 {
		return 0
	}
	return sel.uids[len(sel.uids)-1]
}

// seqOf returns the sequence number of uid.
func (sel *selected) seqOf(uid uint32) (uint32, bool) {
	i := sort.Search(len(sel.uids), func(i int) bool { return sel.uids[i] >= uid })
	if i < len(sel.uids) && sel.uids[i] == uid {
		return uint32(i + 1), true
	}
	return 0, false
}

// uidSet resolves a sequence set (of UIDs when uid, else of sequence
// numbers) to a store.UIDSet limited to messages the client knows. ok is
// false when the set selects nothing (a nil store.UIDSet would mean all).
func (sel *selected) uidSet(set seqSet, uid bool) (store.UIDSet, bool) {
	if set.saved {
		if len(sel.saved) == 0 {
			return nil, false
		}
		return uidSetOf(sel.saved), true
	}
	var out store.UIDSet
	if uid {
		max := sel.maxUID()
		for _, r := range set.resolve(max, max) {
			out = append(out, store.UIDRange{Start: r.start, Stop: r.stop})
		}
	} else {
		n := uint32(len(sel.uids))
		for _, r := range set.resolve(n, n) {
			out = append(out, store.UIDRange{Start: sel.uids[r.start-1], Stop: sel.uids[r.stop-1]})
		}
	}
	return out, len(out) > 0
}

// countIn counts the known UIDs in us.
func (sel *selected) countIn(us store.UIDSet) int {
	n := 0
	for _, r := range us {
		lo := sort.Search(len(sel.uids), func(i int) bool { return sel.uids[i] >= r.Start })
		hi := len(sel.uids)
		if r.Stop != 0 {
			hi = sort.Search(len(sel.uids), func(i int) bool { return sel.uids[i] > r.Stop })
		}
		n += max(hi-lo, 0)
	}
	return n
}

// uidList lists, ascending, the known UIDs in set.
func (sel *selected) uidList(set seqSet, uid bool) []uint32 {
	us, ok := sel.uidSet(set, uid)
	if !ok {
		return nil
	}
	var out []uint32
	for _, r := range us {
		i := sort.Search(len(sel.uids), func(i int) bool { return sel.uids[i] >= r.Start })
		for ; i < len(sel.uids) && sel.uids[i] <= r.Stop; i++ {
			out = append(out, sel.uids[i])
		}
	}
	return out
}

// flagsFetch writes an untagged FETCH with a message's flags.
func (s *session) flagsFetch(seq uint32, m store.Message) {
	s.announce(m.Flags)
	var sb strings.Builder
	sb.WriteString(strconv.FormatUint(uint64(seq), 10))
	sb.WriteString(" FETCH (UID ")
	sb.WriteString(strconv.FormatUint(uint64(m.UID), 10))
	sb.WriteString(" FLAGS ")
	sb.Write(s.appendFlags(nil, m))
	if s.condstore {
		sb.WriteString(" MODSEQ (")
		sb.WriteString(strconv.FormatUint(m.ModSeq, 10))
		sb.WriteString(")")
	}
	sb.WriteString(")")
	s.w.untagged(sb.String())
	if s.sel != nil && m.ModSeq > s.sel.modseq {
		s.sel.reported[m.UID] = m.ModSeq
	}
}

// sendUpdates tells the client what other sessions and deliveries changed
// in the selected mailbox: FETCH for flag changes, EXPUNGE (or VANISHED
// with QRESYNC) when allowExpunge, and EXISTS for new messages.
func (s *session) sendUpdates(allowExpunge bool) {
	sel := s.sel
	if sel == nil {
		return
	}
	if s.takeChanged(sel.mbox.ID) {
		sel.dirty = true
	}
	var fresh []uint32
	if sel.dirty {
		sel.dirty = false
		changed, vanished, err := s.srv.opts.Store.Changes(s.ctx, sel.mbox.ID, sel.modseq)
		if err != nil {
			s.srv.log.Warn("changes", append(s.logf(), "err", err)...)
			return
		}
		max := sel.maxUID()
		base := sel.modseq
		// New keywords, of changed and of new messages, are announced in
		// one FLAGS before the FETCHes.
		var kw []string
		for _, m := range changed {
			kw = append(kw, m.Flags...)
		}
		s.announce(kw)
		for _, m := range changed {
			if m.ModSeq > base {
				base = m.ModSeq
			}
			if m.UID > max {
				fresh = append(fresh, m.UID)
				continue
			}
			if sel.reported[m.UID] >= m.ModSeq || sel.pending[m.UID] {
				continue
			}
			if seq, ok := sel.seqOf(m.UID); ok {
				s.flagsFetch(seq, m)
			}
		}
		for _, u := range vanished {
			if _, ok := sel.seqOf(u); ok {
				sel.pending[u] = true
			}
		}
		sel.modseq = base
		for u, ms := range sel.reported {
			if ms <= base {
				delete(sel.reported, u)
			}
		}
	}
	if allowExpunge && len(sel.pending) > 0 {
		gone := make([]uint32, 0, len(sel.pending))
		for u := range sel.pending {
			gone = append(gone, u)
		}
		s.expunged(sortedUnique(gone))
	}
	if len(fresh) > 0 {
		sel.uids = append(sel.uids, sortedUnique(fresh)...)
		// The first session to learn of a new message gets its \Recent
		// flag (RFC 3501 §2.3.2); a failed claim only loses the flag.
		if err := s.claimRecent(); err != nil {
			s.srv.log.Warn("claim recent", append(s.logf(), "err", err)...)
		}
		s.w.untagged(strconv.Itoa(len(sel.uids)) + " EXISTS")
		if !s.rev2 {
			s.w.untagged(strconv.Itoa(sel.recentCount()) + " RECENT")
		}
	}
}

// expunged tells the client that the given (ascending) UIDs are gone and
// removes them from the sequence map: one VANISHED with QRESYNC (RFC 7162
// §3.2.10), else EXPUNGE per message in descending order so that every
// sequence number stays valid while the client applies them.
func (s *session) expunged(uids []uint32) {
	sel := s.sel
	var seqs []uint32
	var known []uint32
	for _, u := range uids {
		delete(sel.pending, u)
		delete(sel.reported, u)
		if seq, ok := sel.seqOf(u); ok {
			seqs = append(seqs, seq)
			known = append(known, u)
		}
	}
	if len(known) == 0 {
		return
	}
	if s.qresync {
		s.w.untagged("VANISHED " + formatUIDs(known))
	} else {
		for i := len(seqs) - 1; i >= 0; i-- {
			s.w.untagged(strconv.FormatUint(uint64(seqs[i]), 10) + " EXPUNGE")
		}
	}
	gone := make(map[uint32]bool, len(known))
	for _, u := range known {
		gone[u] = true
	}
	// A new list: sel.uids may be shared with the uidCache.
	kept := make([]uint32, 0, len(sel.uids)-len(known))
	for _, u := range sel.uids {
		if !gone[u] {
			kept = append(kept, u)
		}
	}
	sel.uids = kept
	if len(sel.saved) > 0 {
		keptSaved := sel.saved[:0]
		for _, u := range sel.saved {
			if !gone[u] {
				keptSaved = append(keptSaved, u)
			}
		}
		sel.saved = keptSaved
	}
}
