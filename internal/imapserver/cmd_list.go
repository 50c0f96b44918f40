package imapserver

import (
	"sort"
	"strings"

	"pochta/internal/mutf7"
	"pochta/internal/store"
)

// listEntry is a mailbox, or a placeholder for a missing parent, as LIST
// sees it.
type listEntry struct {
	name        string
	mbox        store.Mailbox
	exists      bool
	children    bool
	subChildren bool // has a subscribed descendant (CHILDINFO)
}

// listOptions are LIST-EXTENDED selection and return options (RFC 5258,
// RFC 6154, RFC 5819).
type listOptions struct {
	selSubscribed, selSpecialUse, recursive   bool
	retSubscribed, retChildren, retSpecialUse bool
	status                                    []string
}

// cmdList: LIST (RFC 9051 §6.3.9) with LIST-EXTENDED, LIST-STATUS and
// SPECIAL-USE.
func (s *session) cmdList(tag string, p *parser, uid bool) (string, error) {
	var o listOptions
	if err := p.sp(); err != nil {
		return "", err
	}
	if p.peek() == '(' {
		p.pos++
		if err := p.listRest(func() error {
			opt, err := p.keyword()
			if err != nil {
				return err
			}
			switch opt {
			case "SUBSCRIBED":
				o.selSubscribed = true
			case "SPECIAL-USE":
				o.selSpecialUse = true
			case "RECURSIVEMATCH":
				o.recursive = true
			case "REMOTE":
			default:
				return bad("", "Unknown LIST selection option")
			}
			return nil
		}); err != nil {
			return "", err
		}
		if o.recursive && !o.selSubscribed && !o.selSpecialUse {
			return "", bad("", "RECURSIVEMATCH needs another selection option")
		}
		if err := p.sp(); err != nil {
			return "", err
		}
	}
	ref, err := p.astring()
	if err != nil {
		return "", err
	}
	if err := p.sp(); err != nil {
		return "", err
	}
	var patterns []string
	if p.accept('(') {
		if err := p.listRest(func() error {
			pat, err := p.listMailbox()
			if err != nil {
				return err
			}
			if len(patterns) >= 20 {
				return errSyntax("too many patterns")
			}
			patterns = append(patterns, pat)
			return nil
		}); err != nil {
			return "", err
		}
	} else {
		pat, err := p.listMailbox()
		if err != nil {
			return "", err
		}
		patterns = append(patterns, pat)
	}
	if p.accept(' ') {
		kw, err := p.keyword()
		if err != nil || kw != "RETURN" {
			return "", errSyntax("expected RETURN")
		}
		if err := p.sp(); err != nil {
			return "", err
		}
		if err := p.expect('('); err != nil {
			return "", err
		}
		if err := p.listRest(func() error {
			opt, err := p.keyword()
			if err != nil {
				return err
			}
			switch opt {
			case "SUBSCRIBED":
				o.retSubscribed = true
			case "CHILDREN":
				o.retChildren = true
			case "SPECIAL-USE":
				o.retSpecialUse = true
			case "STATUS":
				if err := p.sp(); err != nil {
					return err
				}
				if o.status, err = parseStatusItems(p); err != nil {
					return err
				}
			default:
				return bad("", "Unknown LIST return option")
			}
			return nil
		}); err != nil {
			return "", err
		}
	}
	if err := p.end(); err != nil {
		return "", err
	}
	if o.selSubscribed {
		o.retSubscribed = true
	}
	if len(patterns) == 1 && patterns[0] == "" {
		// The hierarchy delimiter and root (RFC 9051 §6.3.9).
		s.w.untagged(`LIST (\Noselect) "/" ""`)
		return "LIST completed", nil
	}
	return "LIST completed", s.list(ref, patterns, o, false)
}

func (s *session) list(ref string, patterns []string, o listOptions, lsub bool) error {
	boxes, err := s.srv.opts.Store.ListMailboxes(s.ctx, s.acct.ID)
	if err != nil {
		return err
	}
	entries := map[string]*listEntry{}
	for _, mb := range boxes {
		entries[mb.Name] = &listEntry{name: mb.Name, mbox: mb, exists: true}
	}
	for _, mb := range boxes {
		name := mb.Name
		for {
			i := strings.LastIndex(name, store.Delimiter)
			if i <= 0 {
				break
			}
			name = name[:i]
			e := entries[name]
			if e == nil {
				e = &listEntry{name: name}
				entries[name] = e
			}
			e.children = true
			if mb.Subscribed {
				e.subChildren = true
			}
		}
	}
	var pats []string
	for _, pat := range patterns {
		full := pat
		if ref != "" && !strings.HasPrefix(pat, store.Delimiter) {
			full = ref + pat
		}
		if !s.utf8Names() {
			dec, err := mutf7.Decode(full)
			if err != nil {
				continue
			}
			full = dec
		}
		if len(full) > 2*maxMailboxName {
			continue // can match no valid name; also bounds matching cost
		}
		if len(full) >= 5 && strings.EqualFold(full[:5], "INBOX") && (len(full) == 5 || full[5] == '/') {
			full = "INBOX" + full[5:]
		}
		pats = append(pats, full)
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "INBOX") != (names[j] == "INBOX") {
			return names[i] == "INBOX"
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		e := entries[n]
		matched := false
		for _, pat := range pats {
			if matchPattern(pat, n) {
				matched = true
				break
			}
		}
		if !matched {
			continue
		}
		subscribed := e.exists && e.mbox.Subscribed
		childInfo := false
		if o.selSubscribed && !subscribed {
			if !(o.recursive && e.subChildren) && !(lsub && e.subChildren) {
				continue
			}
			childInfo = o.recursive
		}
		if o.selSpecialUse && (!e.exists || e.mbox.SpecialUse == "") {
			continue
		}
		var attrs []string
		if !e.exists {
			if lsub || !s.rev2 {
				attrs = append(attrs, `\Noselect`)
			} else {
				attrs = append(attrs, `\NonExistent`)
			}
		}
		if !lsub {
			if e.children {
				attrs = append(attrs, `\HasChildren`)
			} else {
				attrs = append(attrs, `\HasNoChildren`)
			}
			if o.retSubscribed && subscribed {
				attrs = append(attrs, `\Subscribed`)
			}
			if e.exists && e.mbox.SpecialUse != "" {
				attrs = append(attrs, e.mbox.SpecialUse)
			}
		}
		verb := "LIST"
		if lsub {
			verb = "LSUB"
		}
		line := verb + " (" + strings.Join(attrs, " ") + `) "/" ` + quote(s.encodeName(n), s.utf8Names())
		if childInfo {
			line += ` ("CHILDINFO" ("SUBSCRIBED"))`
		}
		s.w.untagged(line)
		if len(o.status) > 0 && e.exists {
			if err := s.statusResponse(e.mbox, o.status); err != nil {
				return err
			}
		}
	}
	return nil
}

// matchPattern matches a LIST pattern: "*" matches anything, "%" anything
// but the hierarchy delimiter (RFC 9051 §6.3.9). Dynamic programming keeps
// it linear in len(pattern)*len(name).
func matchPattern(pat, name string) bool {
	prev := make([]bool, len(name)+1)
	cur := make([]bool, len(name)+1)
	prev[0] = true
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		cur[0] = prev[0] && (c == '*' || c == '%')
		for j := 1; j <= len(name); j++ {
			switch c {
			case '*':
				cur[j] = prev[j] || cur[j-1]
			case '%':
				cur[j] = prev[j] || (cur[j-1] && name[j-1] != '/')
			default:
				cur[j] = prev[j-1] && name[j-1] == c
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(name)]
}
