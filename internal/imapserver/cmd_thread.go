package imapserver

import (
	"sort"
	"strconv"
	"strings"
)

// cmdThread: THREAD and UID THREAD (RFC 5256 §4) with the ORDEREDSUBJECT
// and REFERENCES algorithms.
func (s *session) cmdThread(tag string, p *parser, uid bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	alg, err := p.keyword()
	if err != nil {
		return "", err
	}
	if alg != "ORDEREDSUBJECT" && alg != "REFERENCES" {
		return "", bad("", "Unsupported threading algorithm")
	}
	hits, err := s.charsetSearch(p)
	if err != nil {
		return "", err
	}
	recs, err := s.sortRecords(hits, true, true)
	if err != nil {
		return "", err
	}
	num := func(r *sortRec) string {
		if uid {
			return strconv.FormatUint(uint64(r.uid), 10)
		}
		return strconv.FormatUint(uint64(r.seq), 10)
	}
	var roots []*threadNode
	if alg == "ORDEREDSUBJECT" {
		roots = orderedSubject(recs)
	} else {
		roots = threadReferences(recs)
	}
	b := []byte("THREAD ")
	for _, t := range roots {
		b = append(b, '(')
		b = t.write(b, num)
		b = append(b, ')')
	}
	s.w.untagged(strings.TrimSuffix(string(b), " "))
	return "THREAD completed", nil
}

// threadNode is a message (rec nil for a dummy) and its replies.
type threadNode struct {
	rec      *sortRec
	parent   *threadNode
	children []*threadNode
}

// write renders a thread without its outer parentheses (RFC 5256 §4):
// a chain is "a b c", siblings are parenthesised "a (b)(c)".
func (t *threadNode) write(b []byte, num func(*sortRec) string) []byte {
	for n := t; ; {
		if n.rec != nil {
			if len(b) > 0 && b[len(b)-1] != '(' {
				b = append(b, ' ')
			}
			b = append(b, num(n.rec)...)
		}
		switch len(n.children) {
		case 0:
			return b
		case 1:
			n = n.children[0]
			continue
		}
		if n.rec != nil {
			b = append(b, ' ')
		}
		for _, c := range n.children {
			b = append(b, '(')
			b = c.write(b, num)
			b = append(b, ')')
		}
		return b
	}
}

// sentKey is the message whose sent date orders a thread node among its
// siblings (RFC 5256 §2.2 step 6): the node's own message, or for a dummy
// the first of its (already sorted) children.
func sentKey(t *threadNode) *sortRec {
	for t != nil && t.rec == nil {
		if len(t.children) == 0 {
			return nil
		}
		t = t.children[0]
	}
	if t == nil {
		return nil
	}
	return t.rec
}

// lessDate orders by sent date, then by sequence number (RFC 5256 §2.2:
// ties are broken by the order of the messages in the mailbox).
func lessDate(a, b *sortRec) bool {
	if !a.date.Equal(b.date) {
		return a.date.Before(b.date)
	}
	return a.seq < b.seq
}

// sortThreads sorts every set of siblings by sent date, the deepest first,
// so a dummy's first child is known when the dummy is placed (RFC 5256
// §2.2 step 6).
func sortThreads(ts []*threadNode) {
	for _, t := range ts {
		sortThreads(t.children)
	}
	sort.SliceStable(ts, func(i, j int) bool {
		a, b := sentKey(ts[i]), sentKey(ts[j])
		if a == nil || b == nil {
			return a != nil
		}
		return lessDate(a, b)
	})
}

// orderedSubject groups by base subject; the first message (by sent date)
// is the parent of the others (RFC 5256 §4 ORDEREDSUBJECT).
func orderedSubject(recs []*sortRec) []*threadNode {
	sort.SliceStable(recs, func(i, j int) bool {
		if recs[i].subject != recs[j].subject {
			return recs[i].subject < recs[j].subject
		}
		return lessDate(recs[i], recs[j])
	})
	var roots []*threadNode
	var cur *threadNode
	for i, r := range recs {
		if i == 0 || r.subject != recs[i-1].subject {
			cur = &threadNode{rec: r}
			roots = append(roots, cur)
			continue
		}
		cur.children = append(cur.children, &threadNode{rec: r, parent: cur})
	}
	sortThreads(roots)
	return roots
}

// isAncestor reports whether a is b or one of b's ancestors.
func isAncestor(a, b *threadNode) bool {
	for n := b; n != nil; n = n.parent {
		if n == a {
			return true
		}
	}
	return false
}

// adopt makes child the last child of parent; child must have no parent.
func (parent *threadNode) adopt(child *threadNode) {
	child.parent = parent
	parent.children = append(parent.children, child)
}

// unlink removes n from its parent's children.
func (n *threadNode) unlink() {
	p := n.parent
	if p == nil {
		return
	}
	for i, c := range p.children {
		if c == n {
			p.children = append(p.children[:i:i], p.children[i+1:]...)
			break
		}
	}
	n.parent = nil
}

// threadReferences implements the REFERENCES algorithm of RFC 5256 §2.2
// (after Jamie Zawinski's), step by step.
func threadReferences(recs []*sortRec) []*threadNode {
	// (1) The ID table: one container per Message-ID, a dummy (no
	// message) for IDs that are only referenced.
	table := map[string]*threadNode{}
	get := func(id string) *threadNode {
		n := table[id]
		if n == nil {
			n = &threadNode{}
			table[id] = n
		}
		return n
	}
	for i, r := range recs {
		// (1A) A missing or duplicate Message-ID gets a unique one.
		id := r.messageID
		if id == "" || (table[id] != nil && table[id].rec != nil) {
			id = "\x00" + strconv.Itoa(i)
		}
		n := get(id)
		n.rec = r
		// (1B) Link the references in order, each the child of the one
		// before, unless the child already has a parent or the link
		// would make a loop.
		var prev *threadNode
		for _, ref := range r.refs {
			rn := get(ref)
			if prev != nil && rn.parent == nil && !isAncestor(rn, prev) {
				prev.adopt(rn)
			}
			prev = rn
		}
		// (1C) The message's parent is its last reference (or none),
		// replacing any parent presumed from other messages' references;
		// no link that would make a loop.
		n.unlink()
		if prev != nil && !isAncestor(n, prev) {
			prev.adopt(n)
		}
	}
	// (2) The root set: containers without a parent. (3) The table is
	// not needed any more.
	var roots []*threadNode
	for _, n := range table {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	// (4) Prune dummies.
	roots = pruneDummies(roots, true)
	// Siblings in date order make the subject steps deterministic.
	sortThreads(roots)
	// (5) Gather threads with the same base subject.
	roots = mergeBySubject(roots)
	// (6) Sort every set of siblings by sent date.
	sortThreads(roots)
	return roots
}

// pruneDummies is step 4 of REFERENCES for one set of siblings: a dummy
// without children is deleted; a dummy with children is replaced by them,
// except at the top level when it has more than one child.
func pruneDummies(ts []*threadNode, top bool) []*threadNode {
	out := ts[:0:0]
	for _, t := range ts {
		t.children = pruneDummies(t.children, false)
		for _, c := range t.children {
			c.parent = t
		}
		if t.rec != nil || (top && len(t.children) > 1) {
			out = append(out, t)
			continue
		}
		for _, c := range t.children {
			c.parent = t.parent
		}
		out = append(out, t.children...)
	}
	return out
}

// threadSubject is the base subject of a top-level thread: its message's,
// or for a dummy its first child's (RFC 5256 §2.2 step 5.B.i).
func threadSubject(t *threadNode) string {
	if t.rec == nil && len(t.children) > 0 {
		t = t.children[0]
	}
	if t.rec == nil {
		return ""
	}
	return t.rec.subject
}

// isReply reports whether a thread node is a message whose subject is a
// reply or forward; a dummy is not.
func isReply(t *threadNode) bool { return t.rec != nil && t.rec.reply }

// mergeBySubject is step 5 of REFERENCES on the top-level threads.
func mergeBySubject(roots []*threadNode) []*threadNode {
	// (5A, 5B) One thread per base subject: a dummy is preferred, then a
	// message that is not a reply, then the first seen.
	bySubject := map[string]*threadNode{}
	for _, t := range roots {
		sj := threadSubject(t)
		if sj == "" {
			continue
		}
		old := bySubject[sj]
		if old == nil || (old.rec != nil && (t.rec == nil || (isReply(old) && !isReply(t)))) {
			bySubject[sj] = t
		}
	}
	// (5C) Merge every other thread with that subject into it.
	pos := make(map[*threadNode]int, len(roots))
	for i, t := range roots {
		pos[t] = i
	}
	for i := 0; i < len(roots); i++ {
		t := roots[i]
		if t == nil {
			continue
		}
		sj := threadSubject(t)
		other := bySubject[sj]
		if sj == "" || other == t {
			continue
		}
		roots[i] = nil
		switch {
		case t.rec == nil && other.rec == nil:
			// Both dummies: t's children become other's.
			for _, c := range t.children {
				c.parent = nil
				other.adopt(c)
			}
		case other.rec == nil, isReply(t) && !isReply(other):
			other.adopt(t)
		default:
			// A new dummy with both as children takes other's place.
			d := &threadNode{}
			roots[pos[other]] = d
			pos[d] = pos[other]
			d.adopt(other)
			d.adopt(t)
			bySubject[sj] = d
		}
	}
	out := roots[:0]
	for _, t := range roots {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}
