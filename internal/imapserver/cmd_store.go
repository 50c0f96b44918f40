package imapserver

import (
	"strings"

	"pochta/internal/store"
)

// cmdStore: STORE and UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE
// and [MODIFIED] (RFC 7162 §3.1.3).
func (s *session) cmdStore(tag string, p *parser, uid bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	set, err := p.seqSet()
	if err != nil {
		return "", err
	}
	if err := p.sp(); err != nil {
		return "", err
	}
	var unchangedSince uint64
	if p.accept('(') {
		mod, err := p.keyword()
		if err != nil || mod != "UNCHANGEDSINCE" {
			return "", bad("", "Unknown STORE modifier")
		}
		if err := p.sp(); err != nil {
			return "", err
		}
		if unchangedSince, err = p.number64(); err != nil {
			return "", err
		}
		if err := p.expect(')'); err != nil {
			return "", err
		}
		if err := p.sp(); err != nil {
			return "", err
		}
		s.enableCondstore()
	}
	item := strings.ToUpper(p.takeWhile(func(c byte) bool { return c == '+' || c == '-' || c == '.' || isAtomChar(c) }))
	op := store.FlagsReplace
	switch {
	case strings.HasPrefix(item, "+"):
		op, item = store.FlagsAdd, item[1:]
	case strings.HasPrefix(item, "-"):
		op, item = store.FlagsRemove, item[1:]
	}
	silent := false
	switch item {
	case "FLAGS":
	case "FLAGS.SILENT":
		silent = true
	default:
		return "", errSyntax("expected FLAGS, +FLAGS or -FLAGS")
	}
	if err := p.sp(); err != nil {
		return "", err
	}
	flags, err := p.flagsArg()
	if err != nil {
		return "", err
	}
	if err := p.end(); err != nil {
		return "", err
	}
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			switch strings.ToLower(f) {
			case `\seen`, `\answered`, `\flagged`, `\deleted`, `\draft`:
			default:
				return "", bad("", "Cannot store flag "+f)
			}
		}
	}
	if s.sel.readOnly {
		return "", no("READ-ONLY", "Mailbox is read-only")
	}
	uset, ok := s.sel.uidSet(set, uid)
	if !ok {
		return "STORE completed", nil
	}
	var prior map[uint32][]string
	if s.storeTrains(op, flags) {
		prior = s.priorFlags(s.sel.mbox.ID, uset)
	}
	changed, failed, err := s.srv.opts.Store.SetFlags(s.ctx, s.sel.mbox.ID, uset, op, canonicalFlags(flags), unchangedSince)
	if err != nil {
		return "", err
	}
	s.trainStored(s.sel.mbox.ID, changed, prior)
	failedSet := map[uint32]bool{}
	for _, u := range failed {
		failedSet[u] = true
	}
	// New keywords are defined now, even for .SILENT: one FLAGS for the
	// whole STORE (RFC 9051 §7.3.5).
	if op != store.FlagsRemove && len(changed) > 0 {
		s.announce(flags)
	}
	if silent {
		for _, m := range changed {
			if m.ModSeq > s.sel.modseq {
				s.sel.reported[m.UID] = m.ModSeq
			}
		}
	} else {
		err = s.srv.opts.Store.Messages(s.ctx, s.sel.mbox.ID, uset, func(m store.Message) error {
			if failedSet[m.UID] {
				return nil
			}
			if seq, ok := s.sel.seqOf(m.UID); ok {
				s.flagsFetch(seq, m)
			}
			return s.w.err
		})
		if err != nil {
			return "", err
		}
	}
	if len(failed) > 0 {
		nums := make([]uint32, 0, len(failed))
		for _, u := range failed {
			if uid {
				nums = append(nums, u)
			} else if seq, ok := s.sel.seqOf(u); ok {
				nums = append(nums, seq)
			}
		}
		return "[MODIFIED " + formatUIDs(sortedUnique(nums)) + "] Conditional STORE failed", nil
	}
	return "STORE completed", nil
}
