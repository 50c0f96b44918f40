package jmap

import (
	"pochta/internal/store"
)

// emailCopyCreate is one Email/copy creation: the Email to copy and the
// properties of the copy (RFC 8621 §4.7).
type emailCopyCreate struct {
	ID         string         `json:"id"`
	MailboxIDs map[string]any `json:"mailboxIds"`
	Keywords   map[string]any `json:"keywords"`
}

// Email/copy (RFC 8620 §5.4, RFC 8621 §4.7). Every user here has one
// account, so fromAccountId is that account too (the RFC means /copy for
// copying between accounts; within one, a copy into another mailbox is
// what IMAP's COPY does): each copy is a new Email (a new id, the same
// thread). With onSuccessDestroyOriginal the originals copied are
// destroyed by an implicit Email/set.
func emailCopy(c *call) (any, *methodError) {
	var (
		fromAccount          string
		ifFromInState        *string
		ifInState            *string
		create               map[string]emailCopyCreate
		destroyOriginal      bool
		destroyFromIfInState *string
	)
	for k, v := range map[string]any{"fromAccountId": &fromAccount, "ifFromInState": &ifFromInState,
		"ifInState": &ifInState, "create": &create, "onSuccessDestroyOriginal": &destroyOriginal,
		"destroyFromIfInState": &destroyFromIfInState} {
		if me := c.arg(k, v); me != nil {
			return nil, me
		}
	}
	if fromAccount != c.acct.id {
		return nil, &methodError{Type: "fromAccountNotFound"}
	}
	if len(create) > c.s.opts.Limits.MaxObjectsInSet {
		return nil, &methodError{Type: "requestTooLarge", Description: "more objects than maxObjectsInSet"}
	}
	_, oldState, mbs, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return nil, errServerFail(err)
	}
	for _, want := range []*string{ifFromInState, ifInState} {
		if want != nil && *want != oldState {
			return nil, &methodError{Type: "stateMismatch"}
		}
	}
	mine := map[int64]bool{}
	for _, mb := range mbs {
		mine[mb.ID] = true
	}
	var ids []string
	for _, cr := range create {
		ids = append(ids, cr.ID)
	}
	found, err := c.findEmails(ids)
	if err != nil {
		return nil, errServerFail(err)
	}
	created, notCreated := map[string]any{}, map[string]any{}
	var originals []string
	for cid, cr := range create {
		src, ok := found[cr.ID]
		if !ok {
			notCreated[cid] = setError("notFound", "no Email "+cr.ID)
			continue
		}
		ref, err := c.copyEmail(src, cr, mine)
		c.report(cid, ref, err, created, notCreated)
		if _, ok := created[cid]; ok {
			originals = append(originals, src.emailID())
		}
	}
	_, newState, _, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return nil, errServerFail(err)
	}
	if destroyOriginal && len(originals) > 0 {
		args := map[string]any{"accountId": c.acct.id, "destroy": originals}
		if destroyFromIfInState != nil {
			args["ifInState"] = *destroyFromIfInState
		}
		c.followUp = &followUp{name: "Email/set", args: args}
	}
	return map[string]any{"fromAccountId": c.acct.id, "accountId": c.acct.id, "oldState": oldState,
		"newState": newState, "created": created, "notCreated": notCreated}, nil
}

// copyEmail copies one message into the one mailbox of mailboxIds and
// sets the copy's keywords when given (else it keeps the original's).
func (c *call) copyEmail(src msgRef, cr emailCopyCreate, mine map[int64]bool) (msgRef, error) {
	mbIDs := map[string]any{}
	for k, v := range cr.MailboxIDs {
		mbIDs[k] = v
	}
	dst, err := c.targetMailbox(mbIDs, mine)
	if err != nil {
		return msgRef{}, err
	}
	var flags []string
	if cr.Keywords != nil {
		if flags, err = flagsOf(map[string]any(cr.Keywords)); err != nil {
			return msgRef{}, err
		}
	}
	pairs, err := c.s.st.Copy(c.ctx, src.Mailbox, store.UIDSet{{Start: src.UID, Stop: src.UID}}, dst)
	if err != nil {
		return msgRef{}, err
	}
	if len(pairs) != 1 {
		return msgRef{}, store.ErrNotFound
	}
	if cr.Keywords != nil {
		set := store.UIDSet{{Start: pairs[0].Dst, Stop: pairs[0].Dst}}
		if _, _, err := c.s.st.SetFlags(c.ctx, dst, set, store.FlagsReplace, flags, 0); err != nil {
			return msgRef{}, err
		}
	}
	refs, err := c.s.refsOf(c.ctx, dst, []uint32{pairs[0].Dst})
	if err != nil {
		return msgRef{}, err
	}
	if len(refs) != 1 {
		return msgRef{}, store.ErrNotFound
	}
	return refs[0], nil
}
