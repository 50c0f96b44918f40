package imapserver

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"

	"pochta/internal/message"
	"pochta/internal/store"
)

const (
	internalDateLayout = "02-Jan-2006 15:04:05 -0700"
	fetchChunk         = 64 // messages loaded per round when content is needed
)

// cmdFetch: FETCH and UID FETCH (RFC 9051 §6.4.5, §6.4.9) with
// CHANGEDSINCE and VANISHED (RFC 7162 §3.1.4, §3.2.6) and BINARY
// (RFC 3516).
func (s *session) cmdFetch(tag string, p *parser, uid bool) (string, error) {
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
	items, err := p.fetchAtts()
	if err != nil {
		return "", err
	}
	var changedSince uint64
	vanished := false
	if p.accept(' ') {
		if err := p.expect('('); err != nil {
			return "", err
		}
		if err := p.listRest(func() error {
			mod, err := p.keyword()
			if err != nil {
				return err
			}
			switch mod {
			case "CHANGEDSINCE":
				if err := p.sp(); err != nil {
					return err
				}
				if changedSince, err = p.number64(); err != nil {
					return err
				}
			case "VANISHED":
				vanished = true
			default:
				return bad("", "Unknown FETCH modifier")
			}
			return nil
		}); err != nil {
			return "", err
		}
	}
	if err := p.end(); err != nil {
		return "", err
	}
	if vanished && (!uid || !s.qresync || changedSince == 0) {
		return "", bad("", "VANISHED needs UID FETCH, QRESYNC and CHANGEDSINCE")
	}
	// Normalise the item list: UID first for UID FETCH, MODSEQ when asked
	// for or implied by CHANGEDSINCE (which also enables CONDSTORE).
	wantModSeq := changedSince > 0
	hasUID := uid
	needContent, setSeen := false, false
	var rest []fetchItem
	for _, it := range items {
		switch it.kind {
		case fUID:
			hasUID = true
			continue
		case fModSeq:
			wantModSeq = true
			continue
		}
		if it.needsContent() {
			needContent = true
		}
		if (it.kind == fSection || it.kind == fBinary) && !it.peek && !s.sel.readOnly {
			setSeen = true
		}
		rest = append(rest, it)
	}
	if wantModSeq {
		s.enableCondstore()
	}
	f := &fetcher{s: s, items: rest, uid: hasUID, modseq: wantModSeq, since: changedSince}
	for _, it := range rest {
		f.flags = f.flags || it.kind == fFlags
	}
	if vanished {
		// The client's UID set as given, not clamped to the UIDs still
		// here: an expunged UID above the largest one is reported too
		// (RFC 7162 §3.2.6).
		_, gone, err := s.srv.opts.Store.Changes(s.ctx, s.sel.mbox.ID, changedSince)
		if err != nil {
			return "", err
		}
		asked := set.resolve(s.sel.maxUID(), math.MaxUint32)
		if set.saved {
			asked = nil
			for _, r := range uidSetOf(s.sel.saved) {
				asked = append(asked, seqRange{r.Start, r.Stop})
			}
		}
		var in []uint32
		for _, u := range gone {
			if inRanges(asked, u) {
				in = append(in, u)
			}
		}
		if len(in) > 0 {
			s.w.untagged("VANISHED (EARLIER) " + formatUIDs(sortedUnique(in)))
		}
	}
	uset, ok := s.sel.uidSet(set, uid)
	if !ok {
		return "FETCH completed", nil
	}
	fl, flagLister := s.srv.opts.Store.(store.FlagLister)
	if !needContent && !setSeen && flagLister && f.flagsOnly() {
		err = f.flagList(fl, uset)
	} else if !needContent && !setSeen {
		err = s.srv.opts.Store.Messages(s.ctx, s.sel.mbox.ID, uset, func(m store.Message) error {
			if _, ok := f.seqOf(m.UID); ok {
				f.found++
			}
			f.write(m, nil, false)
			return s.w.err
		})
		f.gone = f.found < s.sel.countIn(uset)
	} else {
		err = f.withContent(s.sel.uidList(set, uid), setSeen)
	}
	if err != nil {
		return "", err
	}
	if f.unknownCTE {
		return "", no("UNKNOWN-CTE", "Cannot decode a part's content-transfer-encoding")
	}
	if f.gone {
		// Another session expunged some of the messages after this one
		// last heard of it; they are left out rather than answered with
		// made-up data (RFC 2180 §4.1.2, RFC 5530 §3 EXPUNGEISSUED). The
		// EXPUNGE follows at the next command that allows it.
		return "", no("EXPUNGEISSUED", "Some of the requested messages no longer exist")
	}
	return "FETCH completed", nil
}

// fetcher writes FETCH responses.
type fetcher struct {
	s          *session
	items      []fetchItem
	uid        bool
	modseq     bool
	since      uint64
	unknownCTE bool
	flags      bool // FLAGS is among the items
	line       []byte
	// batch keeps whole lines in line until it holds batchSize bytes,
	// so that a long listing goes out in large writes rather than
	// through the writer's small buffer (flagList).
	batch bool
	// found counts the requested messages of the session's view that the
	// store still has; gone is set when some of them are no longer there.
	found int
	gone  bool
	// next is the index in sel.uids after the last message looked up:
	// messages come in UID order, so seqOf mostly finds the next one
	// there without a search.
	next int
}

// seqOf is sel.seqOf, first trying the UID after the last one found.
func (f *fetcher) seqOf(uid uint32) (uint32, bool) {
	uids := f.s.sel.uids
	switch {
	case f.next > 0 && f.next <= len(uids) && uids[f.next-1] == uid:
		return uint32(f.next), true
	case f.next < len(uids) && uids[f.next] == uid:
		f.next++
		return uint32(f.next), true
	}
	seq, ok := f.s.sel.seqOf(uid)
	if ok {
		f.next = int(seq)
	}
	return seq, ok
}

// withContent loads messages in small rounds: metadata via Messages, then
// content via Open, never calling the store from inside Messages.
func (f *fetcher) withContent(uids []uint32, setSeen bool) error {
	s := f.s
	var batch []store.Message
	for start := 0; start < len(uids); start += fetchChunk {
		chunk := uids[start:min(start+fetchChunk, len(uids))]
		batch = batch[:0]
		err := s.srv.opts.Store.Messages(s.ctx, s.sel.mbox.ID, uidSetOf(chunk), func(m store.Message) error {
			batch = append(batch, m)
			return nil
		})
		if err != nil {
			return err
		}
		if len(batch) < len(chunk) {
			f.gone = true
		}
		seenNow := map[uint32]bool{}
		if setSeen {
			var unseen []uint32
			for _, m := range batch {
				if f.since == 0 || m.ModSeq > f.since {
					if !m.HasFlag(`\Seen`) {
						unseen = append(unseen, m.UID)
					}
				}
			}
			if len(unseen) > 0 {
				changed, _, err := s.srv.opts.Store.SetFlags(s.ctx, s.sel.mbox.ID, uidSetOf(unseen), store.FlagsAdd, []string{`\Seen`}, 0)
				if err != nil {
					return err
				}
				byUID := map[uint32]store.Message{}
				for _, c := range changed {
					byUID[c.UID] = c
				}
				for i, m := range batch {
					if c, ok := byUID[m.UID]; ok {
						batch[i] = c
						seenNow[m.UID] = true
					}
				}
			}
		}
		for _, m := range batch {
			if f.since > 0 && m.ModSeq <= f.since {
				continue
			}
			msg, err := f.load(m)
			if errors.Is(err, store.ErrNotFound) {
				// Expunged since Messages read its row: send nothing
				// for it rather than an empty body.
				f.gone = true
				continue
			}
			if err != nil {
				return err
			}
			f.write(m, msg, seenNow[m.UID])
			if s.w.err != nil {
				return s.w.err
			}
		}
	}
	return nil
}

// content is one message's stored octets, MIME-parsed only when an item
// needs its structure: the whole message (BODY[], BINARY[], RFC822) is
// sent straight from the raw bytes.
type content struct {
	raw []byte
	msg *message.Message
}

// parsed returns the MIME structure, parsing on first use.
func (c *content) parsed() *message.Message {
	if c.msg == nil {
		c.msg = message.Parse(c.raw)
	}
	return c.msg
}

// whole reports whether a section names the entire message (an empty part
// path and no specifier), which needs no MIME parse (RFC 9051 §6.4.5).
func whole(sec message.Section) bool {
	return len(sec.Part) == 0 && sec.Specifier == ""
}

// load reads one message's content; a message expunged meanwhile is
// store.ErrNotFound, never an empty content.
func (f *fetcher) load(m store.Message) (*content, error) {
	rc, err := f.s.srv.opts.Store.Open(f.s.ctx, f.s.sel.mbox.ID, m.UID)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if m.Size > 0 && m.Size < 1<<30 {
		buf.Grow(int(m.Size) + bytes.MinRead) // ReadFrom wants MinRead spare to see EOF
	}
	if _, err := io.Copy(&buf, io.LimitReader(rc, 1<<30)); err != nil {
		return nil, err
	}
	return &content{raw: buf.Bytes()}, nil
}

// write sends one "* n FETCH (...)" response. msg is nil when no item
// needs the content.
func (f *fetcher) write(m store.Message, msg *content, flagsChanged bool) {
	s := f.s
	if f.since > 0 && m.ModSeq <= f.since {
		return
	}
	seq, ok := f.seqOf(m.UID)
	if !ok {
		return
	}
	if flagsChanged || f.flags {
		if len(f.line) > 0 && hasKeyword(m.Flags) {
			f.flushLines() // a FLAGS that announce sends follows them
		}
		s.announce(m.Flags)
	}
	w := s.w
	b := f.line // empty unless batching
	b = append(b, "* "...)
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, " FETCH ("...)
	sep := false
	add := func() {
		if sep {
			b = append(b, ' ')
		}
		sep = true
	}
	if f.uid {
		add()
		b = append(b, "UID "...)
		b = strconv.AppendUint(b, uint64(m.UID), 10)
	}
	flagsDone := false
	utf8 := s.utf8Names()
	for _, it := range f.items {
		switch it.kind {
		case fFlags:
			add()
			b = append(b, "FLAGS "...)
			b = s.appendFlags(b, m)
			flagsDone = true
		case fInternalDate:
			add()
			b = append(b, `INTERNALDATE "`...)
			b = m.InternalDate.AppendFormat(b, internalDateLayout)
			b = append(b, '"')
		case fSize:
			add()
			b = append(b, "RFC822.SIZE "...)
			b = strconv.AppendInt(b, m.Size, 10)
		case fEnvelope:
			add()
			b = append(b, "ENVELOPE "...)
			b = append(b, msg.parsed().Envelope().Format(utf8)...)
		case fBody:
			add()
			b = append(b, "BODY "...)
			b = append(b, msg.parsed().BodyStructureFormat(false, utf8)...)
		case fBodyStructure:
			add()
			b = append(b, "BODYSTRUCTURE "...)
			b = append(b, msg.parsed().BodyStructureFormat(true, utf8)...)
		case fSection, fBinary:
			var data []byte
			var exists bool
			binary := false
			if it.kind == fBinary {
				var err error
				if len(it.section.Part) == 0 {
					data, exists = msg.raw, true
				} else {
					data, exists, err = msg.parsed().Binary(it.section.Part)
				}
				if err != nil {
					f.unknownCTE = true
					continue
				}
				binary = bytes.IndexByte(data, 0) >= 0
			} else if it.name == "RFC822" || whole(it.section) {
				data, exists = msg.raw, true
			} else {
				data, exists = msg.parsed().Section(it.section)
			}
			if it.kind != fBinary {
				data = replaceNUL(data)
			}
			add()
			switch {
			case it.name != "":
				b = append(b, it.name...)
			case it.kind == fBinary:
				b = append(b, "BINARY["...)
				b = append(b, it.label...)
				b = append(b, ']')
			default:
				b = append(b, "BODY["...)
				b = append(b, it.label...)
				b = append(b, ']')
			}
			if it.partial {
				b = append(b, '<')
				b = strconv.AppendInt(b, it.offset, 10)
				b = append(b, '>')
				if it.offset >= int64(len(data)) {
					data = nil
				} else {
					data = data[it.offset:]
					if int64(len(data)) > it.count {
						data = data[:it.count]
					}
				}
			}
			if !exists && it.kind == fBinary {
				b = append(b, " NIL"...)
				continue
			}
			b = append(b, ' ')
			if binary {
				b = append(b, '~')
			}
			b = append(b, '{')
			b = strconv.AppendInt(b, int64(len(data)), 10)
			b = append(b, "}\r\n"...)
			w.bytes(b)
			w.bytes(data)
			b = b[:0]
		case fBinarySize:
			n, exists, err := len(msg.raw), true, error(nil)
			if len(it.section.Part) > 0 {
				n, exists, err = msg.parsed().BinarySize(it.section.Part)
			}
			if err != nil {
				f.unknownCTE = true
				continue
			}
			add()
			b = append(b, "BINARY.SIZE["...)
			b = append(b, it.label...)
			b = append(b, "] "...)
			if exists {
				b = strconv.AppendInt(b, int64(n), 10)
			} else {
				b = append(b, "NIL"...)
			}
		}
	}
	if flagsChanged && !flagsDone {
		add()
		b = append(b, "FLAGS "...)
		b = s.appendFlags(b, m)
		flagsDone = true
	}
	if f.modseq || (s.condstore && flagsChanged) {
		add()
		b = append(b, "MODSEQ ("...)
		b = strconv.AppendUint(b, m.ModSeq, 10)
		b = append(b, ')')
	}
	b = append(b, ")\r\n"...)
	if f.batch && len(b) < batchSize {
		f.line = b
	} else {
		w.bytes(b)
		f.line = b[:0]
	}
	if flagsDone && m.ModSeq > s.sel.modseq {
		s.sel.reported[m.UID] = m.ModSeq
	}
}

// replaceNUL returns data with every NUL octet replaced by 0x80, as
// Dovecot does: a literal cannot carry NUL (RFC 9051 §4.3.1, CHAR8), and
// only BINARY[] may answer with literal8. APPEND stores binary parts
// base64-encoded, so only mail that arrived otherwise (SMTP, import) with
// raw NULs takes this path. The length, and so every size and offset the
// client was told, is unchanged. data itself is returned when it has none.
func replaceNUL(data []byte) []byte {
	i := bytes.IndexByte(data, 0)
	if i < 0 {
		return data
	}
	out := make([]byte, len(data))
	copy(out, data)
	for ; i < len(out); i++ {
		if out[i] == 0 {
			out[i] = 0x80
		}
	}
	return out
}
