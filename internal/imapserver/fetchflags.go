package imapserver

import (
	"strings"

	"pochta/internal/store"
)

// batchSize is how many bytes of FETCH lines flagList collects before
// handing them to the writer, which sends a write that large straight to
// the connection: a million lines in ~1,000 writes instead of ~9,000.
const batchSize = 32 << 10

// flagsOnly reports whether every item asked for, besides UID and MODSEQ,
// is FLAGS: what clients send to resync (UID FETCH 1:* (FLAGS), with
// MODSEQ or CHANGEDSINCE under CONDSTORE), answered by flagList.
func (f *fetcher) flagsOnly() bool {
	for _, it := range f.items {
		if it.kind != fFlags {
			return false
		}
	}
	return true
}

// flagList answers a flags-only FETCH from store.FlagLister, which reads
// no more than UID, modseq and flags (with CHANGEDSINCE only the messages
// changed since, RFC 7162 §3.1.4.1), writing each message's line as it
// comes: memory stays flat whatever the mailbox's size. The lines, the
// keywords announced, the \Recent flag and EXPUNGEISSUED are the general
// path's (write, announce), byte for byte.
func (f *fetcher) flagList(fl store.FlagLister, uset store.UIDSet) error {
	s := f.s
	sel := s.sel
	m := store.Message{MailboxID: sel.mbox.ID}
	f.batch = true
	defer f.flushLines()
	err := fl.MessageFlags(s.ctx, m.MailboxID, uset, f.since, func(uid uint32, modSeq uint64, flags []string) error {
		m.UID, m.ModSeq, m.Flags = uid, modSeq, flags
		if _, ok := f.seqOf(uid); ok {
			f.found++
		}
		f.write(m, nil, false)
		return s.w.err
	})
	if err != nil {
		return err
	}
	if f.since == 0 {
		f.gone = f.found < sel.countIn(uset)
		return nil
	}
	// Only the messages changed since were read, so the count cannot
	// tell whether some the session still shows are gone: those are the
	// ones it knows expunged but has not yet reported (pending) and the
	// ones expunged since it last looked (RFC 2180 §4.1.2).
	for u := range sel.pending {
		if uset.Contains(u) {
			f.gone = true
			return nil
		}
	}
	_, vanished, err := s.srv.opts.Store.Changes(s.ctx, m.MailboxID, sel.modseq)
	if err != nil {
		return err
	}
	for _, u := range vanished {
		if _, ok := sel.seqOf(u); ok && uset.Contains(u) {
			f.gone = true
			return nil
		}
	}
	return nil
}

// flushLines hands the lines batched in f.line to the writer.
func (f *fetcher) flushLines() {
	if len(f.line) > 0 {
		f.s.w.bytes(f.line)
		f.line = f.line[:0]
	}
}

// hasKeyword reports whether flags has a keyword (not a system flag).
func hasKeyword(flags []string) bool {
	for _, fl := range flags {
		if !strings.HasPrefix(fl, `\`) {
			return true
		}
	}
	return false
}
