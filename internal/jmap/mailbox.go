package jmap

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"pochta/internal/store"
)

func mailboxID(id int64) string { return "m" + strconv.FormatInt(id, 10) }

func parseMailboxID(s string) (int64, bool) {
	if !strings.HasPrefix(s, "m") {
		return 0, false
	}
	n, err := strconv.ParseInt(s[1:], 10, 64)
	return n, err == nil && n > 0
}

// roles maps special-use attributes (RFC 6154) to JMAP roles (RFC 8621
// §2: the IANA "IMAP Mailbox Name Attributes" registry, lower case).
func role(mb store.Mailbox) any {
	if mb.Name == "INBOX" {
		return "inbox"
	}
	if mb.SpecialUse == "" {
		return nil
	}
	return strings.ToLower(strings.TrimPrefix(mb.SpecialUse, `\`))
}

func (c *call) mailboxes() (state string, mbs []store.Mailbox, me *methodError) {
	st, _, mbs, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return "", nil, errServerFail(err)
	}
	return st, mbs, nil
}

// getIDs reads the "ids" argument, nil meaning all, bounded by maxObjectsInGet.
func (c *call) getIDs() ([]string, bool, *methodError) {
	var ids []string
	if me := c.arg("ids", &ids); me != nil {
		return nil, false, me
	}
	_, given := c.args["ids"]
	all := !given || string(c.args["ids"]) == "null"
	if len(ids) > c.s.opts.Limits.MaxObjectsInGet {
		return nil, false, &methodError{Type: "requestTooLarge", Description: "more ids than maxObjectsInGet"}
	}
	for i, id := range ids {
		if strings.HasPrefix(id, "#") {
			if real, ok := c.created[id[1:]]; ok {
				ids[i] = real
			}
		}
	}
	return ids, all, nil
}

// mailboxParent gives a mailbox's JMAP name (RFC 8621 §2: the name under
// its parent): the part of its full name after its nearest superior that
// exists. IMAP DELETE of a parent leaves its children (RFC 9051 §6.3.5),
// so "Lists/Go" without "Lists" is the top-level "Lists/Go", and a parent's full name and the
// name joined by the separator are always the full name (which Sieve's
// fileinto and IMAP use).
func mailboxParent(name string, exists func(string) bool) string {
	for i := strings.LastIndex(name, store.Delimiter); i >= 0; i = strings.LastIndex(name[:i], store.Delimiter) {
		if exists(name[:i]) {
			return name[i+1:]
		}
	}
	return name
}

// Mailbox/get (RFC 8621 §2.1).
func mailboxGet(c *call) (any, *methodError) {
	ids, all, me := c.getIDs()
	if me != nil {
		return nil, me
	}
	state, mbs, me := c.mailboxes()
	if me != nil {
		return nil, me
	}
	byID := map[string]store.Mailbox{}
	byName := map[string]int64{}
	for _, mb := range mbs {
		byID[mailboxID(mb.ID)] = mb
		byName[mb.Name] = mb.ID
	}
	if all {
		for _, mb := range mbs {
			ids = append(ids, mailboxID(mb.ID))
		}
		if len(ids) > c.s.opts.Limits.MaxObjectsInGet {
			return nil, &methodError{Type: "requestTooLarge"}
		}
	}
	var props []string
	if me := c.arg("properties", &props); me != nil {
		return nil, me
	}
	var threads map[int64]threadCount
	if wantsThreadCounts(props) {
		var err error
		if threads, err = c.threadCounts(mbs); err != nil {
			return nil, errServerFail(err)
		}
	}
	list, notFound := []any{}, []string{}
	for _, id := range ids {
		mb, ok := byID[id]
		if !ok {
			notFound = append(notFound, id)
			continue
		}
		st, err := c.s.st.Status(c.ctx, mb.ID)
		if err != nil {
			return nil, errServerFail(err)
		}
		name, parent := mailboxParent(mb.Name, func(n string) bool { _, ok := byName[n]; return ok }), any(nil)
		if pn := strings.TrimSuffix(mb.Name, store.Delimiter+name); pn != mb.Name {
			parent = mailboxID(byName[pn])
		}
		unread := int64(st.Unseen)
		obj := map[string]any{
			"id": id, "name": name, "parentId": parent, "role": role(mb), "sortOrder": 0,
			"totalEmails": st.Messages, "unreadEmails": unread,
			"totalThreads": threads[mb.ID].total, "unreadThreads": threads[mb.ID].unread,
			"isSubscribed": mb.Subscribed,
			"myRights": map[string]bool{
				"mayReadItems": true, "mayAddItems": true, "mayRemoveItems": true,
				"maySetSeen": true, "maySetKeywords": true, "mayCreateChild": true,
				"mayRename": mb.Name != "INBOX", "mayDelete": mb.Name != "INBOX", "maySubmit": true,
			},
		}
		list = append(list, pick(obj, props))
	}
	return map[string]any{"accountId": c.acct.id, "state": state, "list": list, "notFound": notFound}, nil
}

// pick keeps only the requested properties (and always the id).
func pick(obj map[string]any, props []string) map[string]any {
	if props == nil {
		return obj
	}
	out := map[string]any{"id": obj["id"]}
	for _, p := range props {
		if v, ok := obj[p]; ok {
			out[p] = v
		}
	}
	return out
}

// Mailbox/query (RFC 8621 §2.3): filters parentId, role, hasAnyRole,
// isSubscribed, name; sorted by name.
func mailboxQuery(c *call) (any, *methodError) {
	state, mbs, me := c.mailboxes()
	if me != nil {
		return nil, me
	}
	var filter struct {
		ParentID     *string `json:"parentId"`
		Role         *string `json:"role"`
		HasAnyRole   *bool   `json:"hasAnyRole"`
		IsSubscribed *bool   `json:"isSubscribed"`
		Name         *string `json:"name"`
	}
	if me := c.arg("filter", &filter); me != nil {
		return nil, me
	}
	byName := map[string]int64{}
	for _, mb := range mbs {
		byName[mb.Name] = mb.ID
	}
	sort.Slice(mbs, func(i, j int) bool { return mbs[i].Name < mbs[j].Name })
	ids := []string{}
	for _, mb := range mbs {
		name, parent := mailboxParent(mb.Name, func(n string) bool { _, ok := byName[n]; return ok }), ""
		if pn := strings.TrimSuffix(mb.Name, store.Delimiter+name); pn != mb.Name {
			parent = mailboxID(byName[pn])
		}
		r, _ := role(mb).(string)
		if (filter.ParentID != nil && *filter.ParentID != parent) ||
			(filter.Role != nil && *filter.Role != r) ||
			(filter.HasAnyRole != nil && *filter.HasAnyRole != (r != "")) ||
			(filter.IsSubscribed != nil && *filter.IsSubscribed != mb.Subscribed) ||
			(filter.Name != nil && !strings.Contains(strings.ToLower(name), strings.ToLower(*filter.Name))) {
			continue
		}
		ids = append(ids, mailboxID(mb.ID))
	}
	return map[string]any{"accountId": c.acct.id, "queryState": state, "canCalculateChanges": false,
		"position": 0, "ids": ids, "total": len(ids)}, nil
}

// setArgs are the arguments every /set method shares (RFC 8620 §5.3).
type setArgs struct {
	IfInState *string                   `json:"ifInState"`
	Create    map[string]map[string]any `json:"create"`
	Update    map[string]map[string]any `json:"update"`
	Destroy   []string                  `json:"destroy"`
}

func (c *call) setArgs(current string) (setArgs, *methodError) {
	var a setArgs
	for _, k := range []string{"ifInState", "create", "update", "destroy"} {
		var dst any
		switch k {
		case "ifInState":
			dst = &a.IfInState
		case "create":
			dst = &a.Create
		case "update":
			dst = &a.Update
		case "destroy":
			dst = &a.Destroy
		}
		if me := c.arg(k, dst); me != nil {
			return a, me
		}
	}
	if a.IfInState != nil && *a.IfInState != current {
		return a, &methodError{Type: "stateMismatch"}
	}
	if len(a.Create)+len(a.Update)+len(a.Destroy) > c.s.opts.Limits.MaxObjectsInSet {
		return a, &methodError{Type: "requestTooLarge", Description: "more objects than maxObjectsInSet"}
	}
	return a, nil
}

// setError is a per-object failure of a /set (RFC 8620 §5.3).
func setError(typ, desc string) map[string]any {
	return map[string]any{"type": typ, "description": desc}
}

// Mailbox/set (RFC 8621 §2.5).
func mailboxSet(c *call) (any, *methodError) {
	oldState, mbs, me := c.mailboxes()
	if me != nil {
		return nil, me
	}
	a, me := c.setArgs(oldState)
	if me != nil {
		return nil, me
	}
	var removeEmails bool
	if me := c.arg("onDestroyRemoveEmails", &removeEmails); me != nil {
		return nil, me
	}
	byID := map[int64]store.Mailbox{}
	exists := map[string]bool{}
	for _, mb := range mbs {
		byID[mb.ID] = mb
		exists[mb.Name] = true
	}
	parentName := func(v any) (string, bool) {
		pid, _ := v.(string)
		if strings.HasPrefix(pid, "#") {
			pid = c.created[pid[1:]]
		}
		id, ok := parseMailboxID(pid)
		if !ok {
			return "", false
		}
		mb, ok := byID[id]
		return mb.Name, ok
	}
	created, notCreated := map[string]any{}, map[string]any{}
	for _, cid := range createOrder(a.Create) {
		obj := a.Create[cid]
		name, _ := obj["name"].(string)
		if name == "" || strings.Contains(name, store.Delimiter) {
			notCreated[cid] = setError("invalidProperties", "name must be a non-empty name without "+store.Delimiter)
			continue
		}
		if p, ok := obj["parentId"]; ok && p != nil {
			pn, ok := parentName(p)
			if !ok {
				notCreated[cid] = setError("invalidProperties", "unknown parentId")
				continue
			}
			name = pn + store.Delimiter + name
		}
		mb, err := c.s.st.CreateMailbox(c.ctx, c.acct.ID, name, "")
		if err != nil {
			notCreated[cid] = setError(setErrType(err), err.Error())
			continue
		}
		byID[mb.ID] = mb
		if sub, ok := obj["isSubscribed"].(bool); ok && sub {
			c.s.st.SetSubscribed(c.ctx, c.acct.ID, name, true)
		}
		c.created[cid] = mailboxID(mb.ID)
		created[cid] = map[string]any{"id": mailboxID(mb.ID), "totalEmails": 0, "unreadEmails": 0,
			"totalThreads": 0, "unreadThreads": 0, "sortOrder": 0, "role": nil}
	}
	updated, notUpdated := map[string]any{}, map[string]any{}
	for id, patch := range a.Update {
		n, ok := parseMailboxID(id)
		mb, found := byID[n]
		if !ok || !found {
			notUpdated[id] = setError("notFound", "")
			continue
		}
		if err := c.updateMailbox(mb, patch, parentName, func(n string) bool { return exists[n] }); err != nil {
			notUpdated[id] = setError(setErrType(err), err.Error())
			continue
		}
		updated[id] = nil
	}
	destroyed, notDestroyed := []string{}, map[string]any{}
	for _, id := range a.Destroy {
		n, ok := parseMailboxID(id)
		mb, found := byID[n]
		if !ok || !found {
			notDestroyed[id] = setError("notFound", "")
			continue
		}
		if typ := c.mayDestroy(mb, mbs, removeEmails); typ != "" {
			notDestroyed[id] = setError(typ, "")
			continue
		}
		if err := c.s.st.DeleteMailbox(c.ctx, c.acct.ID, mb.Name); err != nil {
			notDestroyed[id] = setError(setErrType(err), err.Error())
			continue
		}
		destroyed = append(destroyed, id)
	}
	newState, _, me := c.mailboxes()
	if me != nil {
		return nil, me
	}
	return map[string]any{"accountId": c.acct.id, "oldState": oldState, "newState": newState,
		"created": created, "notCreated": notCreated, "updated": updated, "notUpdated": notUpdated,
		"destroyed": destroyed, "notDestroyed": notDestroyed}, nil
}

// createOrder orders creations so that a mailbox whose parentId is
// "#creationId" of this request comes after that parent.
func createOrder(create map[string]map[string]any) []string {
	var order []string
	done := map[string]bool{}
	var visit func(cid string, depth int)
	visit = func(cid string, depth int) {
		if done[cid] || depth > len(create) {
			return
		}
		if p, ok := create[cid]["parentId"].(string); ok && strings.HasPrefix(p, "#") {
			if _, inRequest := create[p[1:]]; inRequest {
				visit(p[1:], depth+1)
			}
		}
		if !done[cid] {
			done[cid] = true
			order = append(order, cid)
		}
	}
	keys := make([]string, 0, len(create))
	for cid := range create {
		keys = append(keys, cid)
	}
	sort.Strings(keys)
	for _, cid := range keys {
		visit(cid, 0)
	}
	return order
}

// mayDestroy returns the SetError type that forbids destroying mb, or "".
func (c *call) mayDestroy(mb store.Mailbox, mbs []store.Mailbox, removeEmails bool) string {
	if mb.Name == "INBOX" {
		return "forbidden"
	}
	for _, other := range mbs {
		if strings.HasPrefix(other.Name, mb.Name+store.Delimiter) {
			return "mailboxHasChild"
		}
	}
	if !removeEmails {
		st, err := c.s.st.Status(c.ctx, mb.ID)
		if err != nil || st.Messages > 0 {
			return "mailboxHasEmail"
		}
	}
	return ""
}

// updateMailbox applies name, parentId and isSubscribed changes.
func (c *call) updateMailbox(mb store.Mailbox, patch map[string]any, parentName func(any) (string, bool), exists func(string) bool) error {
	leaf := mailboxParent(mb.Name, exists)
	parent := strings.TrimSuffix(strings.TrimSuffix(mb.Name, leaf), store.Delimiter)
	for k, v := range patch {
		switch k {
		case "name":
			s, ok := v.(string)
			if !ok || s == "" || strings.Contains(s, store.Delimiter) {
				return fmt.Errorf("%w: bad name", errInvalidProperty)
			}
			leaf = s
		case "parentId":
			parent = ""
			if v != nil {
				pn, ok := parentName(v)
				if !ok {
					return fmt.Errorf("%w: unknown parentId", errInvalidProperty)
				}
				parent = pn
			}
		case "isSubscribed":
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("%w: isSubscribed", errInvalidProperty)
			}
			if err := c.s.st.SetSubscribed(c.ctx, c.acct.ID, mb.Name, b); err != nil {
				return err
			}
		case "sortOrder":
		default:
			return fmt.Errorf("%w: %s cannot be changed", errInvalidProperty, k)
		}
	}
	name := leaf
	if parent != "" {
		name = parent + store.Delimiter + leaf
	}
	if name != mb.Name {
		return c.s.st.RenameMailbox(c.ctx, c.acct.ID, mb.Name, name)
	}
	return nil
}

var errInvalidProperty = errors.New("invalidProperties")

func setErrType(err error) string {
	switch {
	case errors.Is(err, errInvalidProperty), errors.Is(err, store.ErrInvalidName):
		return "invalidProperties"
	case errors.Is(err, store.ErrExists):
		return "alreadyExists"
	case errors.Is(err, store.ErrNotFound):
		return "notFound"
	case errors.Is(err, store.ErrOverQuota):
		return "overQuota"
	}
	return "serverFail"
}
