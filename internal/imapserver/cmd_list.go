package imapserver

import (
	"sort"
	"strings"

	"pochta/internal/mutf7"
	"pochta/internal/store"
)

// listEntry is a name LIST or LSUB may show: a mailbox, a missing parent
// of one, or a subscribed name.
type listEntry struct {
	name       string
	mbox       store.Mailbox
	exists     bool
	children   bool // has an existing descendant (\HasChildren)
	subscribed bool
	// subHidden: some subscribed descendant matches none of the patterns,
	// so RECURSIVEMATCH reports this name with CHILDINFO and LSUB's "%"
	// shows it as \Noselect (RFC 5258 §3, RFC 3501 §6.3.9).
	subHidden bool
}

// listOptions are LIST-EXTENDED selection and return options (RFC 5258,
// RFC 6154, RFC 5819).
type listOptions struct {
	selSubscribed, selSpecialUse, recursive   bool
	retSubscribed, retChildren, retSpecialUse bool
	status                                    []string
	// extended: the command used LIST-EXTENDED syntax (selection or
	// return options, or several patterns), so the client knows
	// \NonExistent (RFC 5258 §3).
	extended bool
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
		o.extended = true
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
		o.extended = true
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
		o.extended = true
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
	var subs []string
	if o.selSubscribed || o.retSubscribed {
		if subs, err = s.srv.opts.Store.Subscriptions(s.ctx, s.acct.ID); err != nil {
			return err
		}
	}
	pats := s.listPatterns(ref, patterns)
	matches := func(name string) bool {
		for _, pat := range pats {
			if matchPattern(pat, name) {
				return true
			}
		}
		return false
	}
	entries := map[string]*listEntry{}
	entry := func(name string) *listEntry {
		e := entries[name]
		if e == nil {
			e = &listEntry{name: name}
			entries[name] = e
		}
		return e
	}
	for _, mb := range boxes {
		e := entry(mb.Name)
		e.mbox, e.exists = mb, true
		for _, p := range parentNames(mb.Name) {
			entry(p).children = true
		}
	}
	for _, n := range subs {
		entry(n).subscribed = true
		if matches(n) {
			continue
		}
		for _, p := range parentNames(n) {
			entry(p).subHidden = true
		}
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
		if !matches(n) {
			continue
		}
		childInfo := false
		if o.selSubscribed {
			// A name that is not subscribed is shown only for a
			// subscribed descendant the patterns do not show: with
			// RECURSIVEMATCH (RFC 5258 §3) and for LSUB (RFC 3501
			// §6.3.9, the "%" case).
			if !e.subscribed && !((o.recursive || lsub) && e.subHidden) {
				continue
			}
			childInfo = o.recursive && e.subHidden
		} else if !e.exists && !e.children {
			continue // known only as a subscription
		}
		if o.selSpecialUse && (!e.exists || e.mbox.SpecialUse == "") {
			continue
		}
		s.w.untagged(s.listLine(e, o, lsub, childInfo))
		if len(o.status) > 0 && e.exists {
			if err := s.statusResponse(e.mbox, o.status); err != nil {
				return err
			}
		}
	}
	return nil
}

// listPatterns makes the full patterns of a LIST or LSUB: the reference
// prepended, decoded from modified UTF-7 for IMAP4rev1, INBOX in upper
// case; patterns that can match no valid name are dropped.
func (s *session) listPatterns(ref string, patterns []string) []string {
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
	return pats
}

// listLine renders one LIST or LSUB response.
func (s *session) listLine(e *listEntry, o listOptions, lsub, childInfo bool) string {
	var attrs []string
	switch {
	case lsub && (!e.exists || !e.subscribed):
		// LSUB knows only \Noselect: for a name without a mailbox, and
		// for an unsubscribed parent shown for its children (RFC 3501
		// §6.3.9).
		attrs = append(attrs, `\Noselect`)
	case !e.exists && (s.rev2 || o.extended):
		attrs = append(attrs, `\NonExistent`) // RFC 5258 §3: implies \Noselect
	case !e.exists:
		attrs = append(attrs, `\Noselect`)
	}
	if !lsub {
		if e.children {
			attrs = append(attrs, `\HasChildren`)
		} else {
			attrs = append(attrs, `\HasNoChildren`)
		}
		if o.retSubscribed && e.subscribed {
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
	line := verb + " (" + strings.Join(attrs, " ") + `) "/" ` + quote(s.encodeName(e.name), s.utf8Names())
	if childInfo {
		line += ` ("CHILDINFO" ("SUBSCRIBED"))` // RFC 5258 §3.5
	}
	return line
}

// parentNames lists the superior names of a mailbox name, nearest first.
func parentNames(name string) []string {
	var out []string
	for {
		i := strings.LastIndex(name, store.Delimiter)
		if i <= 0 {
			return out
		}
		name = name[:i]
		out = append(out, name)
	}
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
