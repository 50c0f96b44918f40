package jmap

import (
	"cmp"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"pochta/internal/store"
)

// filter is an Email/query FilterCondition or FilterOperator (RFC 8621
// §4.4.1, RFC 8620 §5.5).
type filter struct {
	Operator   string    `json:"operator"`
	Conditions []*filter `json:"conditions"`

	InMailbox          string   `json:"inMailbox"`
	InMailboxOtherThan []string `json:"inMailboxOtherThan"`
	Before             string   `json:"before"`
	After              string   `json:"after"`
	MinSize            *int64   `json:"minSize"`
	MaxSize            *int64   `json:"maxSize"`
	HasKeyword         string   `json:"hasKeyword"`
	NotKeyword         string   `json:"notKeyword"`
	Text               string   `json:"text"`
	From               string   `json:"from"`
	To                 string   `json:"to"`
	Cc                 string   `json:"cc"`
	Bcc                string   `json:"bcc"`
	Subject            string   `json:"subject"`
	Body               string   `json:"body"`
	Header             []string `json:"header"`
	HasAttachment      *bool    `json:"hasAttachment"`

	before, after time.Time
	depth         int
}

// known lists the filter's properties; unknown ones are unsupportedFilter.
var knownFilter = map[string]bool{"operator": true, "conditions": true, "inMailbox": true,
	"inMailboxOtherThan": true, "before": true, "after": true, "minSize": true, "maxSize": true,
	"hasKeyword": true, "notKeyword": true, "text": true, "from": true, "to": true, "cc": true,
	"bcc": true, "subject": true, "body": true, "header": true, "hasAttachment": true}

func checkFilter(raw json.RawMessage, depth int) *methodError {
	if depth > 10 {
		return &methodError{Type: "unsupportedFilter", Description: "filter nested too deep"}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return errInvalidArgs("filter: %v", err)
	}
	for k := range m {
		if !knownFilter[k] {
			return &methodError{Type: "unsupportedFilter", Description: k}
		}
	}
	if c, ok := m["conditions"]; ok {
		var list []json.RawMessage
		if err := json.Unmarshal(c, &list); err != nil {
			return errInvalidArgs("conditions: %v", err)
		}
		for _, sub := range list {
			if me := checkFilter(sub, depth+1); me != nil {
				return me
			}
		}
	}
	return nil
}

// matcher evaluates a filter against messages, asking the store's search
// index for text conditions once per mailbox.
type matcher struct {
	c        *call
	cache    map[string]map[uint32]bool
	contents *contents
}

func (m *matcher) search(mb int64, field store.SearchField, value string) (map[uint32]bool, error) {
	key := string(field) + "\x00" + value + "\x00" + mailboxID(mb)
	if set, ok := m.cache[key]; ok {
		return set, nil
	}
	uids, err := m.c.s.st.Search(m.c.ctx, mb, field, value)
	if err != nil {
		return nil, err
	}
	set := make(map[uint32]bool, len(uids))
	for _, u := range uids {
		set[u] = true
	}
	m.cache[key] = set
	return set, nil
}

func (m *matcher) match(f *filter, msg store.Message) (bool, error) {
	if f == nil {
		return true, nil
	}
	if f.Operator != "" {
		for _, sub := range f.Conditions {
			ok, err := m.match(sub, msg)
			if err != nil {
				return false, err
			}
			switch f.Operator {
			case "AND":
				if !ok {
					return false, nil
				}
			case "OR":
				if ok {
					return true, nil
				}
			case "NOT":
				if ok {
					return false, nil
				}
			}
		}
		return f.Operator != "OR", nil
	}
	if f.InMailbox != "" && f.InMailbox != mailboxID(msg.MailboxID) {
		return false, nil
	}
	if slices.Contains(f.InMailboxOtherThan, mailboxID(msg.MailboxID)) {
		return false, nil
	}
	if (!f.before.IsZero() && !msg.InternalDate.Before(f.before)) ||
		(!f.after.IsZero() && msg.InternalDate.Before(f.after)) ||
		(f.MinSize != nil && msg.Size < *f.MinSize) || (f.MaxSize != nil && msg.Size >= *f.MaxSize) {
		return false, nil
	}
	kws := keywords(msg.Flags)
	if (f.HasKeyword != "" && !kws[strings.ToLower(f.HasKeyword)]) || (f.NotKeyword != "" && kws[strings.ToLower(f.NotKeyword)]) {
		return false, nil
	}
	for _, t := range []struct {
		field store.SearchField
		value string
	}{{store.SearchText, f.Text}, {store.SearchFrom, f.From}, {store.SearchTo, f.To}, {store.SearchCc, f.Cc},
		{store.SearchBcc, f.Bcc}, {store.SearchSubject, f.Subject}, {store.SearchBody, f.Body}} {
		if t.value == "" {
			continue
		}
		set, err := m.search(msg.MailboxID, t.field, t.value)
		if err != nil || !set[msg.UID] {
			return false, err
		}
	}
	if f.HasAttachment != nil {
		cf, err := m.contents.get(msg)
		if err != nil || cf.hasAttachment != *f.HasAttachment {
			return false, err
		}
	}
	if len(f.Header) > 0 {
		value := ""
		if len(f.Header) > 1 {
			value = f.Header[1]
		}
		set, err := m.search(msg.MailboxID, store.SearchField("header:"+strings.ToLower(f.Header[0])), value)
		if err != nil || !set[msg.UID] {
			return false, err
		}
	}
	return true, nil
}

// prepare parses dates and checks operators throughout the tree.
func (f *filter) prepare() *methodError {
	if f == nil {
		return nil
	}
	switch f.Operator {
	case "", "AND", "OR", "NOT":
	default:
		return errInvalidArgs("unknown operator %q", f.Operator)
	}
	for _, d := range []struct {
		s string
		t *time.Time
	}{{f.Before, &f.before}, {f.After, &f.after}} {
		if d.s == "" {
			continue
		}
		t, ok := parseTime(d.s)
		if !ok {
			return errInvalidArgs("bad date %q", d.s)
		}
		*d.t = t
	}
	if len(f.Header) > 2 || (f.Header != nil && len(f.Header) == 0) {
		return errInvalidArgs("header takes one or two strings")
	}
	for _, sub := range f.Conditions {
		if me := sub.prepare(); me != nil {
			return me
		}
	}
	return nil
}

type comparator struct {
	Property    string `json:"property"`
	IsAscending *bool  `json:"isAscending"`
}

// collapseThreads keeps the first of each thread's Emails in the sorted
// results (RFC 8621 §4.4: collapseThreads).
func collapseThreads(hits []store.Message) []store.Message {
	seen := map[int64]bool{}
	out := hits[:0]
	for _, h := range hits {
		if !seen[h.ThreadID] {
			seen[h.ThreadID] = true
			out = append(out, h)
		}
	}
	return out
}

// Email/query (RFC 8621 §4.4). The commonest query, one mailbox by date
// without collapsing threads, is answered from the store's date index;
// others read the metadata of the mailboxes concerned.
func emailQuery(c *call) (any, *methodError) {
	var (
		f              *filter
		sorts          []comparator
		position       int
		limit          *int
		anchor         string
		anchorOffset   int
		calculateTotal bool
		collapse       bool
	)
	if raw, ok := c.args["filter"]; ok && string(raw) != "null" {
		if me := checkFilter(raw, 0); me != nil {
			return nil, me
		}
	}
	for k, v := range map[string]any{"filter": &f, "sort": &sorts, "position": &position, "limit": &limit,
		"anchor": &anchor, "anchorOffset": &anchorOffset, "calculateTotal": &calculateTotal, "collapseThreads": &collapse} {
		if me := c.arg(k, v); me != nil {
			return nil, me
		}
	}
	if me := f.prepare(); me != nil {
		return nil, me
	}
	if limit != nil && *limit < 0 {
		return nil, errInvalidArgs("limit must not be negative")
	}
	for _, s := range sorts {
		if s.Property != "receivedAt" && s.Property != "size" && s.Property != "id" && !contentSort(s.Property) {
			return nil, &methodError{Type: "unsupportedSort", Description: s.Property}
		}
	}
	_, state, mbs, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return nil, errServerFail(err)
	}
	if res, ok, me := c.queryByDate(f, sorts, state, position, limit, anchor, calculateTotal, collapse); ok || me != nil {
		return res, me
	}
	m := &matcher{c: c, cache: map[string]map[uint32]bool{}, contents: &contents{c: c}}
	var hits []store.Message
	for _, mb := range mbs {
		if f != nil && f.Operator == "" && f.InMailbox != "" && f.InMailbox != mailboxID(mb.ID) {
			continue // the common case: one mailbox
		}
		var msgs []store.Message
		if err := c.s.st.Messages(c.ctx, mb.ID, nil, func(msg store.Message) error {
			if !msg.HasFlag(`\Deleted`) {
				msgs = append(msgs, msg)
			}
			return nil
		}); err != nil {
			return nil, errServerFail(err)
		}
		for _, msg := range msgs {
			ok, err := m.match(f, msg)
			if err != nil {
				return nil, errServerFail(err)
			}
			if ok {
				hits = append(hits, msg)
			}
		}
	}
	if len(sorts) == 0 {
		sorts = []comparator{{Property: "receivedAt", IsAscending: new(bool)}}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		for _, s := range sorts {
			asc := s.IsAscending == nil || *s.IsAscending
			var d int
			a, b := hits[i], hits[j]
			switch s.Property {
			case "receivedAt":
				d = a.InternalDate.Compare(b.InternalDate)
			case "size":
				d = cmp.Compare(a.Size, b.Size)
			case "from", "subject":
				d = m.contents.compare(s.Property, a, b)
			}
			if d == 0 {
				d = cmp.Compare(a.MailboxID, b.MailboxID)*2 + cmp.Compare(int64(a.UID), int64(b.UID))
			}
			if d != 0 {
				return (d < 0) == asc
			}
		}
		return false
	})
	if collapse {
		hits = collapseThreads(hits)
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = msgRefOf(h).emailID()
	}
	start := position
	if anchor != "" {
		i := slices.Index(ids, anchor)
		if i < 0 {
			return nil, &methodError{Type: "anchorNotFound"}
		}
		start = max(i+anchorOffset, 0)
	} else if start < 0 {
		start = max(len(ids)+start, 0)
	}
	start = min(start, len(ids))
	end := len(ids)
	if limit != nil {
		end = min(start+*limit, end)
	}
	res := map[string]any{"accountId": c.acct.id, "queryState": state, "canCalculateChanges": false,
		"position": start, "ids": ids[start:end], "collapseThreads": collapse}
	if limit != nil {
		res["limit"] = *limit
	}
	if calculateTotal {
		res["total"] = len(ids)
	}
	return res, nil
}

// queryByDate answers the commonest query, one mailbox by date, from the
// store's date index (store.DateIndex) without reading the whole mailbox;
// ok is false when the query is not of that form.
func (c *call) queryByDate(f *filter, sorts []comparator, state string, position int, limit *int,
	anchor string, calculateTotal, collapse bool) (res map[string]any, ok bool, me *methodError) {
	di := c.s.opts.DateIndex
	if di == nil || f == nil || anchor != "" || collapse || len(sorts) > 1 || (len(sorts) == 1 && sorts[0].Property != "receivedAt") {
		return nil, false, nil
	}
	b1, _ := json.Marshal(f)
	b2, _ := json.Marshal(filter{InMailbox: f.InMailbox})
	if string(b1) != string(b2) {
		return nil, false, nil // more than inMailbox
	}
	mb, found := parseMailboxID(f.InMailbox)
	if !found || !c.s.owned(c.ctx, c.acct.ID, mb) {
		return map[string]any{"accountId": c.acct.id, "queryState": state, "canCalculateChanges": false,
			"position": 0, "ids": []string{}, "total": 0, "collapseThreads": collapse}, true, nil
	}
	total, err := di.DateCount(c.ctx, mb)
	if err != nil {
		return nil, false, errServerFail(err)
	}
	start := position
	if start < 0 {
		start = max(total+start, 0)
	}
	start = min(start, total)
	n := -1
	if limit != nil {
		n = *limit
	}
	asc := len(sorts) == 1 && sorts[0].IsAscending != nil && *sorts[0].IsAscending
	if len(sorts) == 1 && sorts[0].IsAscending == nil {
		asc = true // RFC 8620 §5.5: isAscending defaults to true
	}
	uids, err := di.UIDsByDate(c.ctx, mb, asc, start, n)
	if err != nil {
		return nil, false, errServerFail(err)
	}
	refs, err := c.s.refsOf(c.ctx, mb, uids)
	if err != nil {
		return nil, false, errServerFail(err)
	}
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.emailID()
	}
	res = map[string]any{"accountId": c.acct.id, "queryState": state, "canCalculateChanges": false,
		"position": start, "ids": ids, "collapseThreads": collapse}
	if limit != nil {
		res["limit"] = *limit
	}
	if calculateTotal {
		res["total"] = total
	}
	return res, true, nil
}
