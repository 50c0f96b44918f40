package jmap

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"pochta/internal/envelope"
	"pochta/internal/store"
)

// Local is the local delivery agent as submission needs it (mda.Deliverer).
type Local interface {
	IsLocalDomain(ctx context.Context, domain string) (bool, error)
	Deliver(ctx context.Context, env envelope.Envelope, content []byte) []error
	OwnsAddress(ctx context.Context, acct store.Account, addr string) (bool, error)
}

// Queue takes mail for remote recipients (DKIM-signed by the app's
// outbound queue); durable on return.
type Queue interface {
	Enqueue(ctx context.Context, env envelope.Envelope, content []byte) (string, error)
}

func (s *Server) canSubmit() bool { return s.opts.Local != nil && s.opts.Queue != nil }

func identityID(acct *account) string { return "i" + strconv.FormatInt(acct.ID, 10) }

// Identity/get (RFC 8621 §6.1): one identity, the account's address.
func identityGet(c *call) (any, *methodError) {
	ids, all, me := c.getIDs()
	if me != nil {
		return nil, me
	}
	id := identityID(c.acct)
	list, notFound := []any{}, []string{}
	if all {
		ids = []string{id}
	}
	for _, x := range ids {
		if x != id {
			notFound = append(notFound, x)
			continue
		}
		list = append(list, map[string]any{"id": id, "name": "", "email": c.acct.Address,
			"replyTo": nil, "bcc": nil, "textSignature": "", "htmlSignature": "", "mayDelete": false})
	}
	return map[string]any{"accountId": c.acct.id, "state": "i0", "list": list, "notFound": notFound}, nil
}

// EmailSubmission/get (RFC 8621 §7.1): submissions are sent at once and
// not kept, so none can be fetched afterwards.
func submissionGet(c *call) (any, *methodError) {
	ids, _, me := c.getIDs()
	if me != nil {
		return nil, me
	}
	if ids == nil {
		ids = []string{}
	}
	return map[string]any{"accountId": c.acct.id, "state": "s0", "list": []any{}, "notFound": ids}, nil
}

type submissionCreate struct {
	IdentityID string `json:"identityId"`
	EmailID    string `json:"emailId"`
	Envelope   *struct {
		MailFrom struct {
			Email string `json:"email"`
		} `json:"mailFrom"`
		RcptTo []struct {
			Email string `json:"email"`
		} `json:"rcptTo"`
	} `json:"envelope"`
}

// EmailSubmission/set (RFC 8621 §7.5): only create, sending at once through
// the same path as SMTP submission: the envelope sender and every From
// address must be the user's, local recipients are delivered now, remote
// ones go to the queue (DKIM-signed there).
func submissionSet(c *call) (any, *methodError) {
	if !c.s.canSubmit() {
		return nil, &methodError{Type: "forbidden", Description: "submission is not configured"}
	}
	var (
		create    map[string]submissionCreate
		onSuccess map[string]map[string]any
		onDestroy []string
		ifInState *string
	)
	for k, v := range map[string]any{"create": &create, "onSuccessUpdateEmail": &onSuccess,
		"onSuccessDestroyEmail": &onDestroy, "ifInState": &ifInState} {
		if me := c.arg(k, v); me != nil {
			return nil, me
		}
	}
	if ifInState != nil && *ifInState != "s0" {
		return nil, &methodError{Type: "stateMismatch"}
	}
	if len(create) > c.s.opts.Limits.MaxObjectsInSet {
		return nil, &methodError{Type: "requestTooLarge"}
	}
	created, notCreated := map[string]any{}, map[string]any{}
	for cid, sub := range create {
		id, err := c.submit(sub)
		if err != nil {
			typ := "forbiddenFrom"
			if me, ok := err.(*methodError); ok {
				typ = me.Type
			}
			notCreated[cid] = setError(typ, err.Error())
			continue
		}
		c.created[cid] = id
		created[cid] = map[string]any{"id": id, "undoStatus": "final", "sendAt": time.Now().UTC().Format(time.RFC3339)}
	}
	res := map[string]any{"accountId": c.acct.id, "oldState": "s0", "newState": "s0",
		"created": created, "notCreated": notCreated, "updated": map[string]any{}, "notUpdated": map[string]any{},
		"destroyed": []string{}, "notDestroyed": map[string]any{}}
	// The implicit Email/set (RFC 8621 §7.5).
	update, destroy := map[string]any{}, []string{}
	for k, patch := range onSuccess {
		if emailID, ok := c.successEmail(k, create); ok {
			update[emailID] = patch
		}
	}
	for _, k := range onDestroy {
		if emailID, ok := c.successEmail(k, create); ok {
			destroy = append(destroy, emailID)
		}
	}
	if len(update)+len(destroy) > 0 {
		args := map[string]any{"accountId": c.acct.id, "update": update, "destroy": destroy}
		c.followUp = &followUp{name: "Email/set", args: args}
	}
	return res, nil
}

// successEmail maps an onSuccess key ("#creationId" of a submission that
// was sent) to its Email id.
func (c *call) successEmail(key string, create map[string]submissionCreate) (string, bool) {
	if !strings.HasPrefix(key, "#") {
		return "", false
	}
	sub, ok := create[key[1:]]
	if _, sent := c.created[key[1:]]; !ok || !sent {
		return "", false
	}
	return c.resolveCreated(sub.EmailID), true
}

// submit sends one Email and returns the submission id.
func (c *call) submit(sub submissionCreate) (string, error) {
	if sub.IdentityID != identityID(c.acct) {
		return "", &methodError{Type: "invalidProperties", Description: "unknown identityId"}
	}
	ref, ok, err := c.findEmail(sub.EmailID)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &methodError{Type: "invalidProperties", Description: "unknown emailId"}
	}
	raw, err := c.s.raw(c.ctx, ref)
	if err != nil {
		return "", &methodError{Type: "invalidProperties", Description: "emailId: " + err.Error()}
	}
	hdr, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", &methodError{Type: "invalidEmail", Description: err.Error()}
	}
	from, err := hdr.Header.AddressList("From")
	if err != nil || len(from) == 0 {
		return "", &methodError{Type: "invalidEmail", Description: "no valid From"}
	}
	env := envelope.Envelope{From: from[0].Address, Authenticated: c.acct.Address, Received: time.Now(),
		ID: "jmap" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	var rcpts []string
	if sub.Envelope != nil {
		env.From = sub.Envelope.MailFrom.Email
		for _, r := range sub.Envelope.RcptTo {
			rcpts = append(rcpts, r.Email)
		}
	} else {
		for _, h := range []string{"To", "Cc", "Bcc"} {
			list, _ := hdr.Header.AddressList(h)
			for _, a := range list {
				rcpts = append(rcpts, a.Address)
			}
		}
	}
	if len(rcpts) == 0 {
		return "", &methodError{Type: "noRecipients"}
	}
	// The same sender rule as SMTP submission with enforce_sender.
	for _, a := range append([]string{env.From}, addrs(from)...) {
		owned, err := c.s.opts.Local.OwnsAddress(c.ctx, c.acct.Account, a)
		if err != nil {
			return "", errServerFail(err)
		}
		if !owned {
			return "", &methodError{Type: "forbiddenFrom", Description: a + " is not yours"}
		}
	}
	content := stripBcc(raw)
	var local, remote envelope.Envelope
	local, remote = env, env
	for _, r := range rcpts {
		if _, err := mail.ParseAddress(r); err != nil {
			return "", &methodError{Type: "invalidRecipients", Description: r}
		}
		isLocal, err := c.s.opts.Local.IsLocalDomain(c.ctx, envelope.Domain(r))
		if err != nil {
			return "", errServerFail(err)
		}
		if isLocal {
			local.Recipients = append(local.Recipients, envelope.Recipient{Address: r})
		} else {
			remote.Recipients = append(remote.Recipients, envelope.Recipient{Address: r})
		}
	}
	if len(remote.Recipients) > 0 {
		if _, err := c.s.opts.Queue.Enqueue(c.ctx, remote, content); err != nil {
			return "", errServerFail(err)
		}
	}
	if len(local.Recipients) > 0 {
		for i, err := range c.s.opts.Local.Deliver(c.ctx, local, content) {
			if err != nil {
				return "", fmt.Errorf("%s: %w", local.Recipients[i].Address, err)
			}
		}
	}
	return "S" + env.ID, nil
}

func addrs(list []*mail.Address) []string {
	var out []string
	for _, a := range list {
		out = append(out, a.Address)
	}
	return out
}

// stripBcc removes Bcc fields from the header before sending (RFC 5322
// §3.6.3).
func stripBcc(raw []byte) []byte {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		return raw
	}
	var out bytes.Buffer
	skipping := false
	for _, line := range bytes.SplitAfter(raw[:end+2], []byte("\r\n")) {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if !skipping {
				out.Write(line)
			}
			continue
		}
		skipping = len(line) >= 4 && strings.EqualFold(string(line[:4]), "bcc:")
		if !skipping {
			out.Write(line)
		}
	}
	out.Write(raw[end+2:])
	return out.Bytes()
}
