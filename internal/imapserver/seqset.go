package imapserver

import (
	"sort"
	"strconv"
	"strings"

	"pochta/internal/store"
)

// seqRange is one element of a sequence set; 0 stands for "*".
type seqRange struct{ start, stop uint32 }

// seqSet is a parsed sequence-set (RFC 9051 §9) of sequence numbers or
// UIDs; saved is "$", the result of the last SEARCH RETURN (SAVE)
// (RFC 5182).
type seqSet struct {
	ranges []seqRange
	saved  bool
}

const maxSeqRanges = 10000

// seqSet reads a sequence-set.
func (p *parser) seqSet() (seqSet, error) {
	if p.accept('$') {
		return seqSet{saved: true}, nil
	}
	var s seqSet
	for {
		a, err := p.seqNumber()
		if err != nil {
			return s, err
		}
		b := a
		if p.accept(':') {
			if b, err = p.seqNumber(); err != nil {
				return s, err
			}
		}
		if len(s.ranges) >= maxSeqRanges {
			return s, errSyntax("sequence set too long")
		}
		s.ranges = append(s.ranges, seqRange{a, b})
		if !p.accept(',') {
			return s, nil
		}
	}
}

func (p *parser) seqNumber() (uint32, error) {
	if p.accept('*') {
		return 0, nil
	}
	n, err := p.number()
	if err != nil {
		return 0, errSyntax("bad sequence set")
	}
	if n == 0 {
		return 0, errSyntax("sequence numbers start at 1")
	}
	return n, nil
}

// resolve turns the ranges into ascending, merged inclusive [lo, hi] pairs
// with "*" replaced by star and values above max dropped or clamped.
// max == 0 yields nothing.
func (s seqSet) resolve(star, max uint32) []seqRange {
	if max == 0 {
		return nil
	}
	var out []seqRange
	for _, r := range s.ranges {
		a, b := r.start, r.stop
		if a == 0 {
			a = star
		}
		if b == 0 {
			b = star
		}
		if a > b {
			a, b = b, a
		}
		if a > max {
			continue
		}
		if b > max {
			b = max
		}
		out = append(out, seqRange{a, b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.start <= merged[n-1].stop+1 {
			if r.stop > merged[n-1].stop {
				merged[n-1].stop = r.stop
			}
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// inRanges reports whether n is in rs, ascending and merged as resolve
// returns them, by binary search.
func inRanges(rs []seqRange, n uint32) bool {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].stop >= n })
	return i < len(rs) && rs[i].start <= n
}

// inUIDSet reports whether uid is in set, whose ranges must be ascending
// and disjoint (as uidSet and addRecent build them), by binary search.
func inUIDSet(set store.UIDSet, uid uint32) bool {
	i := sort.Search(len(set), func(i int) bool { return set[i].Stop == 0 || set[i].Stop >= uid })
	return i < len(set) && set[i].Start <= uid
}

// formatUIDs writes ascending UIDs compactly ("1:3,7,9:10").
func formatUIDs(uids []uint32) string {
	var sb strings.Builder
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatUint(uint64(uids[i]), 10))
		if j > i {
			sb.WriteByte(':')
			sb.WriteString(strconv.FormatUint(uint64(uids[j]), 10))
		}
		i = j + 1
	}
	return sb.String()
}

// uidSetOf turns ascending UIDs into a store.UIDSet (never nil unless empty).
func uidSetOf(uids []uint32) store.UIDSet {
	var set store.UIDSet
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		set = append(set, store.UIDRange{Start: uids[i], Stop: uids[j]})
		i = j + 1
	}
	return set
}

// sortedUnique sorts and de-duplicates UIDs in place.
func sortedUnique(u []uint32) []uint32 {
	sort.Slice(u, func(i, j int) bool { return u[i] < u[j] })
	out := u[:0]
	for i, v := range u {
		if i == 0 || v != u[i-1] {
			out = append(out, v)
		}
	}
	return out
}
