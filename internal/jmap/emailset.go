package jmap

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"pochta/internal/store"
)

// Email/set (RFC 8621 §4.6): create drafts from properties, change
// keywords and the mailbox (a move), destroy.
func emailSet(c *call) (any, *methodError) {
	_, oldState, mbs, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return nil, errServerFail(err)
	}
	a, me := c.setArgs(oldState)
	if me != nil {
		return nil, me
	}
	mine := map[int64]bool{}
	for _, mb := range mbs {
		mine[mb.ID] = true
	}
	created, notCreated := map[string]any{}, map[string]any{}
	for cid, obj := range a.Create {
		ref, err := c.createEmail(obj, mine)
		c.report(cid, ref, err, created, notCreated)
	}
	updated, notUpdated := map[string]any{}, map[string]any{}
	var ids []string
	for id := range a.Update {
		ids = append(ids, id)
	}
	found, err := c.findEmails(ids)
	if err != nil {
		return nil, errServerFail(err)
	}
	for id, patch := range a.Update {
		ref, ok := found[id]
		if !ok {
			notUpdated[id] = setError("notFound", "")
			continue
		}
		if err := c.updateEmail(ref, patch, mine); err != nil {
			notUpdated[id] = setError(setErrType(err), err.Error())
			continue
		}
		updated[id] = nil
	}
	destroyed, notDestroyed := []string{}, map[string]any{}
	if found, err = c.findEmails(a.Destroy); err != nil {
		return nil, errServerFail(err)
	}
	for _, id := range a.Destroy {
		ref, ok := found[id]
		if !ok {
			notDestroyed[id] = setError("notFound", "")
			continue
		}
		if err := c.destroyEmail(ref); err != nil {
			notDestroyed[id] = setError(setErrType(err), err.Error())
			continue
		}
		destroyed = append(destroyed, id)
	}
	_, newState, _, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return nil, errServerFail(err)
	}
	return map[string]any{"accountId": c.acct.id, "oldState": oldState, "newState": newState,
		"created": created, "notCreated": notCreated, "updated": updated, "notUpdated": notUpdated,
		"destroyed": destroyed, "notDestroyed": notDestroyed}, nil
}

// report records the outcome of creating one Email: its entry in created
// (and the creation id) or in notCreated.
func (c *call) report(cid string, ref msgRef, err error, created, notCreated map[string]any) {
	if err != nil {
		notCreated[cid] = setError(setErrType(err), err.Error())
		return
	}
	m, err := c.s.message(c.ctx, ref)
	if err != nil {
		notCreated[cid] = setError("serverFail", err.Error())
		return
	}
	c.created[cid] = ref.emailID()
	created[cid] = createdEmail(ref, m.Size)
}

// createdEmail is what /set and /import report of a new Email.
func createdEmail(ref msgRef, size int64) map[string]any {
	return map[string]any{"id": ref.emailID(), "blobId": ref.blobID(), "threadId": ref.threadID(), "size": size}
}

// resolveCreated turns "#creationId" into the id created in this request.
func (c *call) resolveCreated(id string) string {
	if strings.HasPrefix(id, "#") {
		if real, ok := c.created[id[1:]]; ok {
			return real
		}
	}
	return id
}

// destroyEmail expunges one message (RFC 8621 §4.6: destroy removes the
// Email from every mailbox; here it is in one).
func (c *call) destroyEmail(ref msgRef) error {
	set := store.UIDSet{{Start: ref.UID, Stop: ref.UID}}
	changed, _, err := c.s.st.SetFlags(c.ctx, ref.Mailbox, set, store.FlagsAdd, []string{`\Deleted`}, 0)
	if err != nil {
		return err
	}
	if len(changed) == 0 {
		if _, err := c.s.message(c.ctx, ref); err != nil {
			return err
		}
	}
	_, err = c.s.st.Expunge(c.ctx, ref.Mailbox, set)
	return err
}

// targetMailbox reads a mailboxIds value: exactly one of the account's
// mailboxes (maxMailboxesPerEmail is 1).
func (c *call) targetMailbox(v any, mine map[int64]bool) (int64, error) {
	m, ok := v.(map[string]any)
	var ids []int64
	for k, b := range m {
		if b != true {
			return 0, fmt.Errorf("%w: mailboxIds values must be true", errInvalidProperty)
		}
		id, ok := parseMailboxID(c.resolveCreated(k))
		if !ok || !mine[id] {
			return 0, fmt.Errorf("%w: unknown mailbox %s", errInvalidProperty, k)
		}
		ids = append(ids, id)
	}
	if !ok || len(ids) != 1 {
		return 0, fmt.Errorf("%w: mailboxIds must name exactly one mailbox", errInvalidProperty)
	}
	return ids[0], nil
}

// flagsOf turns a keywords object into IMAP flags.
func flagsOf(v any) ([]string, error) {
	m, ok := v.(map[string]any)
	if v != nil && !ok {
		return nil, fmt.Errorf("%w: keywords must be an object", errInvalidProperty)
	}
	var flags []string
	for k, b := range m {
		if b != true || !validKeyword(k) {
			return nil, fmt.Errorf("%w: bad keyword %q", errInvalidProperty, k)
		}
		flags = append(flags, flag(k))
	}
	return flags, nil
}

// updateEmail applies keywords and mailboxIds patches (RFC 8620 §5.3
// PatchObject: whole values or "keywords/$seen" paths).
func (c *call) updateEmail(ref msgRef, patch map[string]any, mine map[int64]bool) error {
	m, err := c.s.message(c.ctx, ref)
	if err != nil {
		return err
	}
	kws := keywords(m.Flags)
	kwChanged := false
	in := map[int64]bool{ref.Mailbox: true} // the mailboxIds after the patch
	for k, v := range patch {
		switch {
		case k == "keywords":
			flags, err := flagsOf(v)
			if err != nil {
				return err
			}
			kws = keywords(flags)
			kwChanged = true
		case strings.HasPrefix(k, "keywords/"):
			kw := strings.ToLower(strings.TrimPrefix(k, "keywords/"))
			if !validKeyword(kw) {
				return fmt.Errorf("%w: bad keyword %q", errInvalidProperty, kw)
			}
			switch v {
			case true:
				kws[kw] = true
			case nil:
				delete(kws, kw)
			default:
				return fmt.Errorf("%w: %s must be true or null", errInvalidProperty, k)
			}
			kwChanged = true
		case k == "mailboxIds":
			id, err := c.targetMailbox(v, mine)
			if err != nil {
				return err
			}
			in = map[int64]bool{id: true}
		case strings.HasPrefix(k, "mailboxIds/"):
			id, ok := parseMailboxID(c.resolveCreated(strings.TrimPrefix(k, "mailboxIds/")))
			switch {
			case !ok || !mine[id]:
				return fmt.Errorf("%w: unknown mailbox", errInvalidProperty)
			case v == true:
				in[id] = true
			case v == nil:
				delete(in, id)
			default:
				return fmt.Errorf("%w: %s must be true or null", errInvalidProperty, k)
			}
		default:
			return fmt.Errorf("%w: %s cannot be changed", errInvalidProperty, k)
		}
	}
	set := store.UIDSet{{Start: ref.UID, Stop: ref.UID}}
	if kwChanged {
		flags := []string{}
		for kw := range kws {
			flags = append(flags, flag(kw))
		}
		if m.HasFlag(`\Deleted`) {
			flags = append(flags, `\Deleted`)
		}
		if _, _, err := c.s.st.SetFlags(c.ctx, ref.Mailbox, set, store.FlagsReplace, flags, 0); err != nil {
			return err
		}
	}
	if len(in) != 1 {
		return fmt.Errorf("%w: an Email is in exactly one mailbox", errInvalidProperty)
	}
	dest := ref.Mailbox
	for id := range in {
		dest = id
	}
	if dest != ref.Mailbox {
		pairs, err := c.s.st.Move(c.ctx, ref.Mailbox, set, dest)
		if err != nil {
			return err
		}
		if c.s.opts.Trainer != nil && len(pairs) == 1 {
			c.trainMoved(ref.Mailbox, dest, pairs[0].Dst, m.Flags)
		}
	}
	return nil
}

// trainMoved finds the two mailboxes of a move for trainMove.
func (c *call) trainMoved(srcID, dstID int64, dstUID uint32, prior []string) {
	_, _, mbs, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return
	}
	var src, dst store.Mailbox
	for _, mb := range mbs {
		switch mb.ID {
		case srcID:
			src = mb
		case dstID:
			dst = mb
		}
	}
	c.trainMove(src, dst, dstUID, prior)
}

// createEmail writes a draft from properties (RFC 8621 §4.6): the address
// and subject headers, a text/plain body from textBody + bodyValues.
func (c *call) createEmail(obj map[string]any, mine map[int64]bool) (msgRef, error) {
	mb, err := c.targetMailbox(obj["mailboxIds"], mine)
	if err != nil {
		return msgRef{}, err
	}
	flags, err := flagsOf(obj["keywords"])
	if err != nil {
		return msgRef{}, err
	}
	content, err := composeEmail(obj)
	if err != nil {
		return msgRef{}, err
	}
	var when time.Time
	if s, ok := obj["receivedAt"].(string); ok {
		when, _ = parseTime(s)
	}
	m, err := c.s.st.Append(c.ctx, mb, flags, when, bytes.NewReader(content))
	if err != nil {
		return msgRef{}, err
	}
	return msgRefOf(m), nil
}

// composeEmail builds an RFC 5322 message from Email properties.
func composeEmail(obj map[string]any) ([]byte, error) {
	var b bytes.Buffer
	for _, h := range []struct{ prop, name string }{{"from", "From"}, {"sender", "Sender"}, {"to", "To"},
		{"cc", "Cc"}, {"bcc", "Bcc"}, {"replyTo", "Reply-To"}} {
		list, _ := obj[h.prop].([]any)
		var addrs []string
		for _, a := range list {
			m, _ := a.(map[string]any)
			email, _ := m["email"].(string)
			if email == "" || strings.ContainsAny(email, "\r\n<>, ") {
				return nil, fmt.Errorf("%w: bad address in %s", errInvalidProperty, h.prop)
			}
			name, _ := m["name"].(string)
			if name != "" {
				addrs = append(addrs, mime.QEncoding.Encode("utf-8", name)+" <"+email+">")
			} else {
				addrs = append(addrs, email)
			}
		}
		if addrs != nil {
			fmt.Fprintf(&b, "%s: %s\r\n", h.name, strings.Join(addrs, ", "))
		}
	}
	if s, ok := obj["subject"].(string); ok {
		fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", strings.NewReplacer("\r", "", "\n", " ").Replace(s)))
	}
	sent := time.Now()
	if s, ok := obj["sentAt"].(string); ok {
		if t, ok := parseTime(s); ok {
			sent = t
		}
	}
	fmt.Fprintf(&b, "Date: %s\r\n", sent.Format(time.RFC1123Z))
	id := make([]byte, 12)
	rand.Read(id)
	fmt.Fprintf(&b, "Message-ID: <%s@jmap.pochta>\r\n", hex.EncodeToString(id))
	for _, h := range []struct{ prop, name string }{{"inReplyTo", "In-Reply-To"}, {"references", "References"}} {
		list, _ := obj[h.prop].([]any)
		var ids []string
		for _, v := range list {
			if s, ok := v.(string); ok && !strings.ContainsAny(s, "\r\n<> ") {
				ids = append(ids, "<"+s+">")
			}
		}
		if ids != nil {
			fmt.Fprintf(&b, "%s: %s\r\n", h.name, strings.Join(ids, " "))
		}
	}
	text := ""
	values, _ := obj["bodyValues"].(map[string]any)
	if parts, ok := obj["textBody"].([]any); ok && len(parts) > 0 {
		p, _ := parts[0].(map[string]any)
		pid, _ := p["partId"].(string)
		v, _ := values[pid].(map[string]any)
		text, _ = v["value"].(string)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n")))
	qp.Close()
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// Email/import (RFC 8621 §4.8): store uploaded (or existing) blobs as
// Emails.
func emailImport(c *call) (any, *methodError) {
	var (
		ifInState *string
		emails    map[string]struct {
			BlobID     string          `json:"blobId"`
			MailboxIDs map[string]bool `json:"mailboxIds"`
			Keywords   map[string]bool `json:"keywords"`
			ReceivedAt string          `json:"receivedAt"`
		}
	)
	if me := c.arg("ifInState", &ifInState); me != nil {
		return nil, me
	}
	if me := c.arg("emails", &emails); me != nil {
		return nil, me
	}
	if len(emails) > c.s.opts.Limits.MaxObjectsInSet {
		return nil, &methodError{Type: "requestTooLarge"}
	}
	_, oldState, mbs, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return nil, errServerFail(err)
	}
	if ifInState != nil && *ifInState != oldState {
		return nil, &methodError{Type: "stateMismatch"}
	}
	mine := map[int64]bool{}
	for _, mb := range mbs {
		mine[mb.ID] = true
	}
	created, notCreated := map[string]any{}, map[string]any{}
	for cid, e := range emails {
		content, ok := c.s.blob(c, e.BlobID)
		if !ok {
			notCreated[cid] = map[string]any{"type": "blobNotFound", "notFound": []string{e.BlobID}}
			continue
		}
		mbIDs := map[string]any{}
		for k, v := range e.MailboxIDs {
			mbIDs[k] = v
		}
		mb, err := c.targetMailbox(mbIDs, mine)
		if err != nil {
			notCreated[cid] = setError(setErrType(err), err.Error())
			continue
		}
		var flags []string
		for k, v := range e.Keywords {
			if v && validKeyword(k) {
				flags = append(flags, flag(k))
			}
		}
		var when time.Time
		if e.ReceivedAt != "" {
			when, _ = parseTime(e.ReceivedAt)
		}
		m, err := c.s.st.Append(c.ctx, mb, flags, when, bytes.NewReader(content))
		if err != nil {
			notCreated[cid] = setError(setErrType(err), err.Error())
			continue
		}
		ref := msgRefOf(m)
		c.created[cid] = ref.emailID()
		created[cid] = createdEmail(ref, m.Size)
	}
	_, newState, _, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return nil, errServerFail(err)
	}
	return map[string]any{"accountId": c.acct.id, "oldState": oldState, "newState": newState,
		"created": created, "notCreated": notCreated}, nil
}
