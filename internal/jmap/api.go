// Package jmap serves JMAP (RFC 8620 core, RFC 8621 mail) over HTTP: the
// session resource, the API endpoint with method calls and result
// references, blob upload and download, and push over an event source. It
// reads and changes mail through the store's Mailstore, the same one IMAP
// uses, so both protocols see one truth. One file per method family.
package jmap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Capability URIs (RFC 8620 §2, RFC 8621 §1.3.1).
const (
	capCore       = "urn:ietf:params:jmap:core"
	capMail       = "urn:ietf:params:jmap:mail"
	capSubmission = "urn:ietf:params:jmap:submission"
)

// Request is one JMAP request object (RFC 8620 §3.3).
type Request struct {
	Using       []string          `json:"using"`
	MethodCalls []Invocation      `json:"methodCalls"`
	CreatedIDs  map[string]string `json:"createdIds,omitempty"`
}

// Invocation is a method call or response: [name, arguments, call id]
// (RFC 8620 §3.2).
type Invocation struct {
	Name   string
	Args   map[string]json.RawMessage
	CallID string
}

// UnmarshalJSON reads the three-element array form.
func (inv *Invocation) UnmarshalJSON(b []byte) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	if len(parts) != 3 {
		return fmt.Errorf("invocation has %d elements, want 3", len(parts))
	}
	if err := json.Unmarshal(parts[0], &inv.Name); err != nil {
		return fmt.Errorf("method name: %w", err)
	}
	if err := json.Unmarshal(parts[1], &inv.Args); err != nil || inv.Args == nil {
		return fmt.Errorf("arguments must be an object")
	}
	if err := json.Unmarshal(parts[2], &inv.CallID); err != nil {
		return fmt.Errorf("method call id: %w", err)
	}
	return nil
}

// response is a method response: [name, arguments, call id].
type response struct {
	Name   string
	Args   any
	CallID string
}

func (r response) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{r.Name, r.Args, r.CallID})
}

// ParseRequest decodes a request body and checks its shape (RFC 8620
// §3.3); the error is a request-level problem to send back.
func ParseRequest(body []byte) (*Request, *Problem) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, &Problem{Type: "urn:ietf:params:jmap:error:notJSON", Status: 400, Detail: err.Error()}
	}
	if dec.More() {
		return nil, &Problem{Type: "urn:ietf:params:jmap:error:notJSON", Status: 400, Detail: "trailing data after the request"}
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, notRequest("the request is not a JSON object")
	}
	if _, ok := obj["using"].([]any); !ok {
		return nil, notRequest("using must be an array of strings")
	}
	if _, ok := obj["methodCalls"].([]any); !ok {
		return nil, notRequest("methodCalls must be an array")
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, notRequest(err.Error())
	}
	return &req, nil
}

func notRequest(detail string) *Problem {
	return &Problem{Type: "urn:ietf:params:jmap:error:notRequest", Status: 400, Detail: detail}
}

// Problem is a request-level error (RFC 8620 §3.6.1, RFC 7807).
type Problem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Limit  string `json:"limit,omitempty"`
}

// methodError is a method-level error (RFC 8620 §3.6.2).
type methodError struct {
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

func (e *methodError) Error() string { return e.Type + ": " + e.Description }

func errInvalidArgs(format string, a ...any) *methodError {
	return &methodError{Type: "invalidArguments", Description: fmt.Sprintf(format, a...)}
}

func errAccountNotFound() *methodError { return &methodError{Type: "accountNotFound"} }

func errServerFail(err error) *methodError {
	return &methodError{Type: "serverFail", Description: err.Error()}
}

// resultReference is a back-reference to an earlier result (RFC 8620 §3.7).
type resultReference struct {
	ResultOf string `json:"resultOf"`
	Name     string `json:"name"`
	Path     string `json:"path"`
}

// resolveReferences replaces each "#name" argument by the value its
// reference points at in the responses so far (RFC 8620 §3.7).
func resolveReferences(args map[string]json.RawMessage, done []response) *methodError {
	for key, v := range args {
		if !strings.HasPrefix(key, "#") {
			continue
		}
		plain := key[1:]
		if _, dup := args[plain]; dup {
			return errInvalidArgs("both %q and %q given", plain, key)
		}
		var ref resultReference
		if err := json.Unmarshal(v, &ref); err != nil {
			return &methodError{Type: "invalidResultReference", Description: err.Error()}
		}
		var found *response
		for i := range done {
			if done[i].CallID == ref.ResultOf {
				found = &done[i]
				break
			}
		}
		if found == nil || found.Name != ref.Name {
			return &methodError{Type: "invalidResultReference", Description: "no " + ref.Name + " response with id " + ref.ResultOf}
		}
		b, err := json.Marshal(found.Args)
		if err != nil {
			return errServerFail(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			return errServerFail(err)
		}
		val, err := evalPointer(doc, ref.Path)
		if err != nil {
			return &methodError{Type: "invalidResultReference", Description: err.Error()}
		}
		out, err := json.Marshal(val)
		if err != nil {
			return errServerFail(err)
		}
		delete(args, key)
		args[plain] = out
	}
	return nil
}

// evalPointer evaluates a JSON pointer (RFC 6901) extended with "*": on an
// array, "*" applies the rest of the path to every item and flattens
// arrays that result (RFC 8620 §3.7).
func evalPointer(doc any, path string) (any, error) {
	if path == "" {
		return doc, nil
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("path %q does not start with /", path)
	}
	tokens := strings.Split(path[1:], "/")
	return walkPointer(doc, tokens)
}

func walkPointer(doc any, tokens []string) (any, error) {
	if len(tokens) == 0 {
		return doc, nil
	}
	tok := strings.ReplaceAll(strings.ReplaceAll(tokens[0], "~1", "/"), "~0", "~")
	switch d := doc.(type) {
	case map[string]any:
		v, ok := d[tok]
		if !ok {
			return nil, fmt.Errorf("no member %q", tok)
		}
		return walkPointer(v, tokens[1:])
	case []any:
		if tok == "*" {
			out := []any{}
			for _, item := range d {
				v, err := walkPointer(item, tokens[1:])
				if err != nil {
					return nil, err
				}
				if arr, ok := v.([]any); ok {
					out = append(out, arr...)
				} else {
					out = append(out, v)
				}
			}
			return out, nil
		}
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i >= len(d) || (len(tok) > 1 && tok[0] == '0') {
			return nil, fmt.Errorf("bad array index %q", tok)
		}
		return walkPointer(d[i], tokens[1:])
	}
	return nil, fmt.Errorf("cannot descend into a scalar with %q", tok)
}

// call is what a method handler gets: the session's account and the
// decoded arguments.
type call struct {
	ctx     context.Context
	s       *Server
	acct    *account
	args    map[string]json.RawMessage
	created map[string]string // creation id → id, across the request
	// followUp is an implicit call run right after this one (RFC 8621
	// §7.5 onSuccessUpdateEmail), its response sharing the call id.
	followUp *followUp
}

type followUp struct {
	name string
	args map[string]any
}

// arg decodes one argument into v; a missing or null argument leaves v.
func (c *call) arg(name string, v any) *methodError {
	raw, ok := c.args[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errInvalidArgs("%s: %v", name, err)
	}
	return nil
}

// accountArg checks the accountId argument against the session's account.
func (c *call) accountArg() *methodError {
	var id string
	if me := c.arg("accountId", &id); me != nil {
		return me
	}
	if id != c.acct.id {
		return errAccountNotFound()
	}
	return nil
}

// handler runs one method and returns its response arguments.
type handler func(c *call) (any, *methodError)

func (s *Server) methods() map[string]handler {
	return map[string]handler{
		"Core/echo":            func(c *call) (any, *methodError) { return c.args, nil },
		"Mailbox/get":          mailboxGet,
		"Mailbox/changes":      mailboxChanges,
		"Mailbox/query":        mailboxQuery,
		"Mailbox/set":          mailboxSet,
		"Email/get":            emailGet,
		"Email/changes":        emailChanges,
		"Email/query":          emailQuery,
		"Email/queryChanges":   queryChanges,
		"Email/set":            emailSet,
		"Email/import":         emailImport,
		"Email/copy":           emailCopy,
		"Thread/get":           threadGet,
		"Thread/changes":       threadChanges,
		"Identity/get":         identityGet,
		"EmailSubmission/set":  submissionSet,
		"EmailSubmission/get":  submissionGet,
		"SearchSnippet/get":    snippetGet,
		"VacationResponse/get": vacationGet,
		"VacationResponse/set": vacationSet,
	}
}

// run processes the method calls of one request in order (RFC 8620 §3.3).
func (s *Server) run(ctx context.Context, acct *account, req *Request) map[string]any {
	created := req.CreatedIDs
	if created == nil {
		created = map[string]string{}
	}
	var out []response
	for _, inv := range req.MethodCalls {
		out = append(out, s.runOne(ctx, acct, req, inv, out, created)...)
	}
	if out == nil {
		out = []response{}
	}
	res := map[string]any{"methodResponses": out, "sessionState": s.sessionState(acct)}
	if req.CreatedIDs != nil {
		res["createdIds"] = created
	}
	return res
}

func (s *Server) runOne(ctx context.Context, acct *account, req *Request, inv Invocation, done []response, created map[string]string) []response {
	fail := func(me *methodError) []response {
		return []response{{Name: "error", Args: me, CallID: inv.CallID}}
	}
	h, ok := s.handlers[inv.Name]
	if !ok {
		return fail(&methodError{Type: "unknownMethod", Description: inv.Name})
	}
	// The capability a method belongs to must be in "using" (RFC 8620 §3.3).
	need := capMail
	switch {
	case strings.HasPrefix(inv.Name, "Core/"):
		need = capCore
	case strings.HasPrefix(inv.Name, "EmailSubmission/"), strings.HasPrefix(inv.Name, "Identity/"):
		need = capSubmission
	case strings.HasPrefix(inv.Name, "VacationResponse/"):
		need = capVacation
	}
	if !contains(req.Using, need) {
		return fail(&methodError{Type: "unknownMethod", Description: inv.Name + " needs " + need + " in using"})
	}
	args := make(map[string]json.RawMessage, len(inv.Args))
	for k, v := range inv.Args {
		args[k] = v
	}
	if me := resolveReferences(args, done); me != nil {
		return fail(me)
	}
	c := &call{ctx: ctx, s: s, acct: acct, args: args, created: created}
	if inv.Name != "Core/echo" {
		if me := c.accountArg(); me != nil {
			return fail(me)
		}
	}
	res, me := h(c)
	if me != nil {
		return fail(me)
	}
	out := []response{{Name: inv.Name, Args: res, CallID: inv.CallID}}
	if f := c.followUp; f != nil {
		b, err := json.Marshal(f.args)
		var next map[string]json.RawMessage
		if err == nil {
			err = json.Unmarshal(b, &next)
		}
		if err != nil {
			return append(out, fail(errServerFail(err))...)
		}
		fc := &call{ctx: ctx, s: s, acct: acct, args: next, created: created}
		r, me := s.handlers[f.name](fc)
		if me != nil {
			return append(out, fail(me)...)
		}
		out = append(out, response{Name: f.name, Args: r, CallID: inv.CallID})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
