package imapserver

import (
	"strconv"
	"strings"
)

// searchReturn are ESEARCH result options (RFC 4731, RFC 5182).
type searchReturn struct {
	min, max, all, count, save bool
	extended                   bool // answer with ESEARCH
}

// parseSearchPrefix reads [RETURN (...)] [CHARSET x] before search keys.
func (s *session) parseSearchPrefix(p *parser, allowReturn bool) (searchReturn, error) {
	var r searchReturn
	save := p.pos
	word, _ := p.keyword()
	if word == "RETURN" && allowReturn {
		if err := p.sp(); err != nil {
			return r, err
		}
		if err := p.expect('('); err != nil {
			return r, err
		}
		r.extended = true
		if err := p.listRest(func() error {
			opt, err := p.keyword()
			if err != nil {
				return err
			}
			switch opt {
			case "MIN":
				r.min = true
			case "MAX":
				r.max = true
			case "ALL":
				r.all = true
			case "COUNT":
				r.count = true
			case "SAVE":
				r.save = true
			default:
				return bad("", "Unknown RETURN option")
			}
			return nil
		}); err != nil {
			return r, err
		}
		if !r.min && !r.max && !r.count && !r.save {
			r.all = true // "RETURN ()" means ALL (RFC 4731 §3.1)
		}
		if err := p.sp(); err != nil {
			return r, err
		}
		save = p.pos
		word, _ = p.keyword()
	}
	if word == "CHARSET" {
		if err := p.sp(); err != nil {
			return r, err
		}
		cs, err := p.astring()
		if err != nil {
			return r, err
		}
		switch strings.ToUpper(cs) {
		case "UTF-8", "US-ASCII":
		default:
			return r, no("BADCHARSET (UTF-8)", "Unsupported charset")
		}
		if err := p.sp(); err != nil {
			return r, err
		}
		return r, nil
	}
	p.pos = save
	return r, nil
}

// cmdSearch: SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH
// (RFC 4731), SEARCHRES (RFC 5182) and MODSEQ (RFC 7162 §3.1.5).
func (s *session) cmdSearch(tag string, p *parser, uid bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	ret, err := s.parseSearchPrefix(p, true)
	if err != nil {
		return "", err
	}
	key, err := p.searchKeys(0)
	if err != nil {
		return "", err
	}
	if err := p.end(); err != nil {
		return "", err
	}
	if s.rev2 && !ret.extended {
		ret.extended, ret.all = true, true
	}
	withModSeq := key.usesModSeq()
	if withModSeq {
		s.enableCondstore()
	}
	hits, err := s.runSearch(key)
	if err != nil {
		return "", err
	}
	num := func(h searchHit) uint32 {
		if uid {
			return h.uid
		}
		return h.seq
	}
	// With only MIN and/or MAX asked for, the response returns one or two
	// messages; those are what the MODSEQ result reports the highest
	// mod-sequence of (RFC 7162 §3.1.5) and what SAVE keeps (RFC 9051
	// §6.4.4.2). Otherwise both cover every match.
	returned := hits
	if ret.extended && (ret.min || ret.max) && !ret.all && !ret.count && len(hits) > 0 {
		returned = nil
		if ret.min {
			returned = append(returned, hits[0])
		}
		if ret.max && (!ret.min || len(hits) > 1) {
			returned = append(returned, hits[len(hits)-1])
		}
	}
	var highest uint64
	for _, h := range returned {
		highest = max(highest, h.modseq)
	}
	if ret.save {
		saved := make([]uint32, len(returned))
		for i, h := range returned {
			saved[i] = h.uid
		}
		s.sel.saved = saved
	}
	var sb strings.Builder
	if !ret.extended {
		sb.WriteString("SEARCH")
		for _, h := range hits {
			sb.WriteByte(' ')
			sb.WriteString(strconv.FormatUint(uint64(num(h)), 10))
		}
		if withModSeq && len(hits) > 0 {
			sb.WriteString(" (MODSEQ " + strconv.FormatUint(highest, 10) + ")")
		}
		s.w.untagged(sb.String())
		return "SEARCH completed", nil
	}
	if ret.save && !ret.min && !ret.max && !ret.all && !ret.count {
		return "SEARCH completed", nil
	}
	sb.WriteString("ESEARCH (TAG " + quote(tag, false) + ")")
	if uid {
		sb.WriteString(" UID")
	}
	if ret.min && len(hits) > 0 {
		sb.WriteString(" MIN " + strconv.FormatUint(uint64(num(hits[0])), 10))
	}
	if ret.max && len(hits) > 0 {
		sb.WriteString(" MAX " + strconv.FormatUint(uint64(num(hits[len(hits)-1])), 10))
	}
	if ret.count {
		sb.WriteString(" COUNT " + strconv.Itoa(len(hits)))
	}
	if ret.all && len(hits) > 0 {
		nums := make([]uint32, len(hits))
		for i, h := range hits {
			nums[i] = num(h)
		}
		sb.WriteString(" ALL " + formatUIDs(nums))
	}
	if withModSeq && len(hits) > 0 {
		sb.WriteString(" MODSEQ " + strconv.FormatUint(highest, 10))
	}
	s.w.untagged(sb.String())
	return "SEARCH completed", nil
}
