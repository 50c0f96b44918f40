package jmap

import (
	"errors"
	"slices"
	"strings"
	"time"

	"pochta/internal/store"

	gomessage "github.com/emersion/go-message"
)

var defaultEmailProps = []string{"id", "blobId", "threadId", "mailboxIds", "keywords", "size",
	"receivedAt", "messageId", "inReplyTo", "references", "sender", "from", "to", "cc", "bcc",
	"replyTo", "subject", "sentAt", "hasAttachment", "preview", "bodyValues", "textBody",
	"htmlBody", "attachments"}

var defaultBodyProps = []string{"partId", "blobId", "size", "name", "type", "charset",
	"disposition", "cid", "language", "location"}

// knownEmailProp reports whether Email/get can answer property p.
func knownEmailProp(p string) bool {
	if p == "headers" || p == "bodyStructure" || slices.Contains(defaultEmailProps, p) {
		return true
	}
	_, ok := headerProp(gomessage.Header{}, p)
	return strings.HasPrefix(p, "header:") && ok
}

// metaProps are answered from the store's metadata alone.
var metaProps = map[string]bool{"id": true, "blobId": true, "mailboxIds": true,
	"keywords": true, "size": true, "receivedAt": true, "threadId": true}

// errTooMany stops a listing that passed a limit.
var errTooMany = errors.New("too many")

type emailGetArgs struct {
	Properties          []string `json:"properties"`
	BodyProperties      []string `json:"bodyProperties"`
	FetchTextBodyValues bool     `json:"fetchTextBodyValues"`
	FetchHTMLBodyValues bool     `json:"fetchHTMLBodyValues"`
	FetchAllBodyValues  bool     `json:"fetchAllBodyValues"`
	MaxBodyValueBytes   int      `json:"maxBodyValueBytes"`
}

// Email/get (RFC 8621 §4.2).
func emailGet(c *call) (any, *methodError) {
	ids, all, me := c.getIDs()
	if me != nil {
		return nil, me
	}
	var a emailGetArgs
	for k, v := range map[string]any{"properties": &a.Properties, "bodyProperties": &a.BodyProperties,
		"fetchTextBodyValues": &a.FetchTextBodyValues, "fetchHTMLBodyValues": &a.FetchHTMLBodyValues,
		"fetchAllBodyValues": &a.FetchAllBodyValues, "maxBodyValueBytes": &a.MaxBodyValueBytes} {
		if me := c.arg(k, v); me != nil {
			return nil, me
		}
	}
	if a.Properties == nil {
		a.Properties = defaultEmailProps
	}
	if a.BodyProperties == nil {
		a.BodyProperties = defaultBodyProps
	}
	for _, p := range a.Properties {
		if !knownEmailProp(p) {
			return nil, errInvalidArgs("unknown property %q", p)
		}
	}
	_, state, mbs, err := c.s.states(c.ctx, c.acct.ID)
	if err != nil {
		return nil, errServerFail(err)
	}
	var found map[string]msgRef
	if all {
		refs, me := c.allEmails(mbs, c.s.opts.Limits.MaxObjectsInGet)
		if me != nil {
			return nil, me
		}
		found = map[string]msgRef{}
		for _, r := range refs {
			ids = append(ids, r.emailID())
			found[r.emailID()] = r
		}
	} else if found, err = c.findEmails(ids); err != nil {
		return nil, errServerFail(err)
	}
	list, notFound := []any{}, []string{}
	for _, id := range ids {
		ref, ok := found[id]
		if !ok {
			notFound = append(notFound, id)
			continue
		}
		obj, err := c.s.email(c, ref, &a)
		if me, ok := err.(*methodError); ok {
			return nil, me
		}
		if err != nil {
			if me := storeError(err); me.Type == "notFound" {
				notFound = append(notFound, id)
				continue
			}
			return nil, errServerFail(err)
		}
		list = append(list, obj)
	}
	return map[string]any{"accountId": c.acct.id, "state": state, "list": list, "notFound": notFound}, nil
}

// allEmails lists every message of the account, refusing more than max.
func (c *call) allEmails(mbs []store.Mailbox, max int) ([]msgRef, *methodError) {
	var refs []msgRef
	for _, mb := range mbs {
		err := c.s.st.Messages(c.ctx, mb.ID, nil, func(m store.Message) error {
			refs = append(refs, msgRefOf(m))
			if len(refs) > max {
				return errTooMany
			}
			return nil
		})
		if err != nil && err != errTooMany {
			return nil, errServerFail(err)
		}
		if len(refs) > max {
			return nil, &methodError{Type: "requestTooLarge", Description: "more emails than maxObjectsInGet"}
		}
	}
	return refs, nil
}

// email builds one Email object with the requested properties.
func (s *Server) email(c *call, ref msgRef, a *emailGetArgs) (map[string]any, error) {
	m, err := s.message(c.ctx, ref)
	if err != nil {
		return nil, err
	}
	obj := map[string]any{"id": ref.emailID()}
	needContent := false
	for _, p := range a.Properties {
		switch p {
		case "id":
		case "blobId":
			obj[p] = ref.blobID()
		case "mailboxIds":
			obj[p] = map[string]bool{mailboxID(ref.Mailbox): true}
		case "keywords":
			obj[p] = keywords(m.Flags)
		case "size":
			obj[p] = m.Size
		case "receivedAt":
			obj[p] = m.InternalDate.UTC().Format(time.RFC3339)
		case "threadId":
			obj[p] = ref.threadID()
		default:
			needContent = true
		}
	}
	if !needContent {
		return obj, nil
	}
	raw, err := s.raw(c.ctx, ref)
	if err != nil {
		return nil, err
	}
	root := parseParts(raw)
	b := structure(root)
	h := root.Header
	for _, p := range a.Properties {
		if metaProps[p] {
			continue
		}
		switch p {
		case "messageId", "inReplyTo", "references":
			obj[p] = messageIDs(h, map[string]string{"messageId": "Message-Id", "inReplyTo": "In-Reply-To", "references": "References"}[p])
		case "sender", "from", "to", "cc", "bcc", "replyTo":
			name := map[string]string{"sender": "Sender", "from": "From", "to": "To", "cc": "Cc", "bcc": "Bcc", "replyTo": "Reply-To"}[p]
			obj[p] = addresses(h, name)
		case "subject":
			obj[p] = text(h, "Subject")
		case "sentAt":
			obj[p] = date(h, "Date")
		case "hasAttachment":
			obj[p] = len(b.attach) > 0
		case "preview":
			obj[p] = preview(b, 256)
		case "headers":
			obj[p] = rawHeaders(h)
		case "bodyStructure":
			obj[p] = bodyPart(ref, root, a.BodyProperties)
		case "textBody", "htmlBody", "attachments":
			list := map[string][]*part{"textBody": b.text, "htmlBody": b.html, "attachments": b.attach}[p]
			out := []any{}
			for _, bp := range list {
				out = append(out, bodyPart(ref, bp, a.BodyProperties))
			}
			obj[p] = out
		case "bodyValues":
			obj[p] = bodyValues(root, b, a)
		default:
			if strings.HasPrefix(p, "header:") {
				v, ok := headerProp(h, p)
				if !ok {
					return nil, &methodError{Type: "invalidArguments", Description: "unsupported property " + p}
				}
				obj[p] = v
			}
		}
	}
	return obj, nil
}

// bodyValues decodes the requested text parts (RFC 8621 §4.2).
func bodyValues(root *part, b bodies, a *emailGetArgs) map[string]any {
	out := map[string]any{}
	add := func(list []*part) {
		for _, p := range list {
			if !strings.HasPrefix(p.Type, "text/") {
				continue
			}
			v, trunc := bodyText(p, a.MaxBodyValueBytes)
			out[p.PartID] = map[string]any{"value": v, "isEncodingProblem": false, "isTruncated": trunc}
		}
	}
	if a.FetchTextBodyValues || a.FetchAllBodyValues {
		add(b.text)
	}
	if a.FetchHTMLBodyValues || a.FetchAllBodyValues {
		add(b.html)
	}
	if a.FetchAllBodyValues {
		var walk func(p *part)
		walk = func(p *part) {
			if p.Sub == nil {
				add([]*part{p})
			}
			for _, s := range p.Sub {
				walk(s)
			}
		}
		walk(root)
	}
	return out
}

// bodyPart renders an EmailBodyPart (RFC 8621 §4.1.4).
func bodyPart(ref msgRef, p *part, props []string) map[string]any {
	obj := map[string]any{}
	for _, k := range props {
		switch k {
		case "partId":
			obj[k] = nilIfEmpty(p.PartID)
		case "blobId":
			if p.Sub == nil {
				obj[k] = ref.blobID() + "_" + p.PartID
			} else {
				obj[k] = nil
			}
		case "size":
			obj[k] = p.Size
		case "name":
			obj[k] = nilIfEmpty(p.Name)
		case "type":
			obj[k] = p.Type
		case "charset":
			obj[k] = nilIfEmpty(p.Charset)
		case "disposition":
			obj[k] = nilIfEmpty(p.Disposition)
		case "cid":
			obj[k] = nilIfEmpty(p.CID)
		case "language":
			if p.Language == nil {
				obj[k] = nil
			} else {
				obj[k] = p.Language
			}
		case "location":
			obj[k] = nilIfEmpty(p.Location)
		case "headers":
			obj[k] = rawHeaders(p.Header)
		}
	}
	if p.Sub != nil {
		subs := []any{}
		for _, s := range p.Sub {
			subs = append(subs, bodyPart(ref, s, props))
		}
		obj["subParts"] = subs
	}
	return obj
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
