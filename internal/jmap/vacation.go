package jmap

import (
	"encoding/json"
	"errors"
	"hash/fnv"
	"strings"

	"pochta/internal/sieve"
	"pochta/internal/store"
)

// capVacation is the VacationResponse capability (RFC 8621 §8).
const capVacation = "urn:ietf:params:jmap:vacationresponse"

// VacationResponse is backed by the account's Sieve script (the same
// vacation as ManageSieve users write, RFC 5230): the active script
// carries a generated block between two marker lines, right after its
// require commands (RFC 5228 §3.2: require comes first), holding the
// JMAP object as JSON and, while enabled, a vacation action. An account
// without an active script gets one, vacationScript, made of the block and
// the default rule (sieve.DefaultScript), so spam still goes to Junk.
const (
	vacationBegin  = "# BEGIN pochta JMAP VacationResponse (RFC 8621 §8); rewritten on change\n"
	vacationEnd    = "# END pochta JMAP VacationResponse\n"
	vacationScript = "pochta-vacation"
	vacationID     = "singleton"
)

// vacationResponse is the JMAP object's settable part.
type vacationResponse struct {
	IsEnabled bool    `json:"isEnabled"`
	FromDate  *string `json:"fromDate"`
	ToDate    *string `json:"toDate"`
	Subject   *string `json:"subject"`
	TextBody  *string `json:"textBody"`
	HTMLBody  *string `json:"htmlBody"`
}

func (v vacationResponse) object() map[string]any {
	return map[string]any{"id": vacationID, "isEnabled": v.IsEnabled, "fromDate": v.FromDate, "toDate": v.ToDate,
		"subject": v.Subject, "textBody": v.TextBody, "htmlBody": v.HTMLBody}
}

// vacationState is the object's state: a hash of its JSON.
func vacationState(v vacationResponse) string {
	h := fnv.New64a()
	json.NewEncoder(h).Encode(v) //nolint:errcheck // a hash does not fail
	return "v" + b36(h.Sum64())
}

// activeScript returns the account's active script, ok false when none.
func (c *call) activeScript() (store.SieveScript, bool, error) {
	sc, err := c.s.opts.Sieve.ActiveSieveScript(c.ctx, c.acct.ID)
	if errors.Is(err, store.ErrNotFound) {
		return store.SieveScript{}, false, nil
	}
	return sc, err == nil, err
}

// splitVacation cuts the generated block out of a script: what comes
// before and after it, and the object it holds (zero when there is none).
func splitVacation(content string) (before, after string, v vacationResponse) {
	i := strings.Index(content, vacationBegin)
	if i < 0 {
		return content, "", v
	}
	rest := content[i+len(vacationBegin):]
	j := strings.Index(rest, vacationEnd)
	if j < 0 {
		return content, "", v
	}
	block := rest[:j]
	if line, _, ok := strings.Cut(block, "\n"); ok && strings.HasPrefix(line, "# ") {
		json.Unmarshal([]byte(line[2:]), &v) //nolint:errcheck // a damaged block reads as disabled
	}
	return content[:i], rest[j+len(vacationEnd):], v
}

// afterRequires returns the offset just after the require commands (and
// the comments and white space around them) that open a script.
func afterRequires(s string) int {
	pos := 0
	for pos < len(s) {
		switch {
		case s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\r' || s[pos] == '\n':
			pos++
		case s[pos] == '#':
			nl := strings.IndexByte(s[pos:], '\n')
			if nl < 0 {
				return len(s)
			}
			pos += nl + 1
		case strings.HasPrefix(s[pos:], "/*"):
			end := strings.Index(s[pos+2:], "*/")
			if end < 0 {
				return len(s)
			}
			pos += 2 + end + 2
		case len(s)-pos >= 7 && strings.EqualFold(s[pos:pos+7], "require"):
			end := statementEnd(s, pos)
			if end < 0 {
				return len(s)
			}
			pos = end
		default:
			return pos
		}
	}
	return pos
}

// statementEnd returns the offset after the ";" ending the statement at
// pos, skipping quoted strings; -1 when there is none.
func statementEnd(s string, pos int) int {
	for i := pos; i < len(s); i++ {
		switch s[i] {
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case ';':
			return i + 1
		}
	}
	return -1
}

// sieveString quotes s as a Sieve string (RFC 5228 §2.4.2).
func sieveString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// vacationBlock renders the generated block for v.
func vacationBlock(v vacationResponse) string {
	js, _ := json.Marshal(v)
	var b strings.Builder
	b.WriteString(vacationBegin)
	b.WriteString("# " + string(js) + "\n")
	if v.IsEnabled {
		body := ""
		switch {
		case v.TextBody != nil:
			body = *v.TextBody
		case v.HTMLBody != nil:
			body = collapseWS(stripTags(*v.HTMLBody))
		}
		b.WriteString("require \"vacation\";\nvacation")
		if v.Subject != nil && *v.Subject != "" {
			b.WriteString(" :subject " + sieveString(*v.Subject))
		}
		b.WriteString(" " + sieveString(body) + ";\n")
	}
	b.WriteString(vacationEnd)
	return b.String()
}

// VacationResponse/get (RFC 8621 §8.1).
func vacationGet(c *call) (any, *methodError) {
	ids, all, me := c.getIDs()
	if me != nil {
		return nil, me
	}
	sc, _, err := c.activeScript()
	if err != nil {
		return nil, errServerFail(err)
	}
	_, _, v := splitVacation(sc.Content)
	list, notFound := []any{}, []string{}
	if all {
		ids = []string{vacationID}
	}
	for _, id := range ids {
		if id != vacationID {
			notFound = append(notFound, id)
			continue
		}
		list = append(list, v.object())
	}
	return map[string]any{"accountId": c.acct.id, "state": vacationState(v), "list": list, "notFound": notFound}, nil
}

// VacationResponse/set (RFC 8621 §8.2): only update of the singleton.
// fromDate and toDate must be null: our Sieve has no date test (RFC 5260)
// to switch the reply on and off by itself.
func vacationSet(c *call) (any, *methodError) {
	sc, hasActive, err := c.activeScript()
	if err != nil {
		return nil, errServerFail(err)
	}
	before, after, v := splitVacation(sc.Content)
	oldState := vacationState(v)
	a, me := c.setArgs(oldState)
	if me != nil {
		return nil, me
	}
	notCreated := map[string]any{}
	for cid := range a.Create {
		notCreated[cid] = setError("singleton", "VacationResponse cannot be created")
	}
	notDestroyed := map[string]any{}
	for _, id := range a.Destroy {
		notDestroyed[id] = setError("singleton", "VacationResponse cannot be destroyed")
	}
	updated, notUpdated := map[string]any{}, map[string]any{}
	for id, patch := range a.Update {
		if id != vacationID {
			notUpdated[id] = setError("notFound", "")
			continue
		}
		next, err := patchVacation(v, patch)
		if err != nil {
			notUpdated[id] = setError("invalidProperties", err.Error())
			continue
		}
		if !hasActive {
			before, after = sieve.DefaultScript, ""
			sc.Name = vacationScript
		} else {
			before += after
			after = ""
		}
		at := afterRequires(before)
		content := before[:at] + vacationBlock(next) + before[at:]
		if _, err := sieve.Parse(content); err != nil {
			notUpdated[id] = setError("invalidProperties", "the resulting Sieve script does not parse: "+err.Error())
			continue
		}
		if err := c.s.opts.Sieve.PutSieveScript(c.ctx, c.acct.ID, sc.Name, content); err != nil {
			return nil, errServerFail(err)
		}
		if !hasActive {
			if err := c.s.opts.Sieve.ActivateSieveScript(c.ctx, c.acct.ID, sc.Name); err != nil {
				return nil, errServerFail(err)
			}
		}
		v = next
		updated[id] = nil
	}
	return map[string]any{"accountId": c.acct.id, "oldState": oldState, "newState": vacationState(v),
		"created": map[string]any{}, "notCreated": notCreated, "updated": updated, "notUpdated": notUpdated,
		"destroyed": []string{}, "notDestroyed": notDestroyed}, nil
}

// patchVacation applies a PatchObject to the object.
func patchVacation(v vacationResponse, patch map[string]any) (vacationResponse, error) {
	for k, val := range patch {
		var dst **string
		switch k {
		case "isEnabled":
			b, ok := val.(bool)
			if !ok {
				return v, errors.New("isEnabled must be a boolean")
			}
			v.IsEnabled = b
			continue
		case "fromDate", "toDate":
			if val != nil {
				return v, errors.New(k + " is not supported (must be null)")
			}
			continue
		case "subject":
			dst = &v.Subject
		case "textBody":
			dst = &v.TextBody
		case "htmlBody":
			dst = &v.HTMLBody
		default:
			return v, errors.New(k + " cannot be set")
		}
		switch s := val.(type) {
		case nil:
			*dst = nil
		case string:
			*dst = &s
		default:
			return v, errors.New(k + " must be a string or null")
		}
	}
	return v, nil
}
