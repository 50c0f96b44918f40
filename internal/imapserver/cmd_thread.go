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

func earliest(t *threadNode) *sortRec {
	if t.rec != nil {
		return t.rec
	}
	var best *sortRec
	for _, c := range t.children {
		if r := earliest(c); r != nil && (best == nil || lessDate(r, best)) {
			best = r
		}
	}
	return best
}

func lessDate(a, b *sortRec) bool {
	if !a.date.Equal(b.date) {
		return a.date.Before(b.date)
	}
	return a.seq < b.seq
}

func sortThreads(ts []*threadNode) {
	sort.SliceStable(ts, func(i, j int) bool {
		a, b := earliest(ts[i]), earliest(ts[j])
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

// threadReferences implements RFC 5256 §4 REFERENCES: link messages by
// References/In-Reply-To, prune dummies, then merge threads by subject.
func threadReferences(recs []*sortRec) []*threadNode {
	table := map[string]*threadNode{}
	get := func(id string) *threadNode {
		n := table[id]
		if n == nil {
			n = &threadNode{}
			table[id] = n
		}
		return n
	}
	isAncestor := func(a, b *threadNode) bool { // a is an ancestor of b
		for n := b; n != nil; n = n.parent {
			if n == a {
				return true
			}
		}
		return false
	}
	link := func(parent, child *threadNode) {
		if child.parent != nil || parent == child || isAncestor(child, parent) {
			return
		}
		child.parent = parent
		parent.children = append(parent.children, child)
	}
	unlink := func(n *threadNode) {
		if p := n.parent; p != nil {
			for i, c := range p.children {
				if c == n {
					p.children = append(p.children[:i], p.children[i+1:]...)
					break
				}
			}
			n.parent = nil
		}
	}
	var nodes []*threadNode
	for i, r := range recs {
		id := r.messageID
		if id == "" || (table[id] != nil && table[id].rec != nil) {
			id = "\x00" + strconv.Itoa(i) // missing or duplicate Message-ID
		}
		n := get(id)
		n.rec = r
		nodes = append(nodes, n)
		var prev *threadNode
		for _, ref := range r.refs {
			if ref == id {
				continue
			}
			rn := get(ref)
			if prev != nil {
				link(prev, rn)
			}
			prev = rn
		}
		if prev != nil && prev != n {
			unlink(n)
			if !isAncestor(n, prev) {
				link(prev, n)
			}
		}
	}
	// Root set: nodes without parents (step 2).
	var roots []*threadNode
	seen := map[*threadNode]bool{}
	for _, n := range table {
		top := n
		for top.parent != nil {
			top = top.parent
		}
		if !seen[top] {
			seen[top] = true
			roots = append(roots, top)
		}
	}
	// Prune dummies (step 4).
	var prune func(n *threadNode) []*threadNode
	prune = func(n *threadNode) []*threadNode {
		var kids []*threadNode
		for _, c := range n.children {
			kids = append(kids, prune(c)...)
		}
		n.children = kids
		for _, c := range kids {
			c.parent = n
		}
		if n.rec == nil && (n.parent != nil || len(kids) == 1) {
			for _, c := range kids {
				c.parent = nil
			}
			return kids
		}
		return []*threadNode{n}
	}
	var pruned []*threadNode
	for _, r := range roots {
		for _, n := range prune(r) {
			n.parent = nil
			if n.rec != nil || len(n.children) > 0 {
				pruned = append(pruned, n)
			}
		}
	}
	// Group by base subject (step 5).
	subj := func(t *threadNode) string {
		if t.rec != nil {
			return t.rec.subject
		}
		if len(t.children) > 0 && t.children[0].rec != nil {
			return t.children[0].rec.subject
		}
		return ""
	}
	sortThreads(pruned)
	bySubject := map[string]*threadNode{}
	var out []*threadNode
	for _, t := range pruned {
		sj := subj(t)
		if sj == "" {
			out = append(out, t)
			continue
		}
		other := bySubject[sj]
		if other == nil {
			bySubject[sj] = t
			out = append(out, t)
			continue
		}
		// Merge t under other as a sibling set (simplified step 5.C).
		if other.rec == nil {
			other.children = append(other.children, t)
		} else {
			dummy := &threadNode{children: []*threadNode{other, t}}
			for i, o := range out {
				if o == other {
					out[i] = dummy
				}
			}
			bySubject[sj] = dummy
		}
	}
	var order func(t *threadNode)
	order = func(t *threadNode) {
		sortThreads(t.children)
		for _, c := range t.children {
			order(c)
		}
	}
	for _, t := range out {
		order(t)
	}
	sortThreads(out)
	return out
}
