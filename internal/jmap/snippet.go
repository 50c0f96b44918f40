package jmap

import (
	"encoding/json"
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxSnippetBytes bounds a preview snippet (RFC 8621 §5: at most 255
// octets of text, before the markup).
const maxSnippetBytes = 200

// SearchSnippet/get (RFC 8621 §5.1): for each Email, its subject and a
// part of its body text with the terms of the filter's text, subject and
// body conditions in <mark></mark> (HTML-escaped text otherwise); null
// where no term is found. Terms under a NOT are not highlighted.
func snippetGet(c *call) (any, *methodError) {
	var ids []string
	if me := c.arg("emailIds", &ids); me != nil {
		return nil, me
	}
	if len(ids) > c.s.opts.Limits.MaxObjectsInGet {
		return nil, &methodError{Type: "requestTooLarge"}
	}
	var f *filter
	if raw, ok := c.args["filter"]; ok && string(raw) != "null" {
		if me := checkFilter(raw, 0); me != nil {
			return nil, me
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, errInvalidArgs("filter: %v", err)
		}
	}
	var subjectTerms, bodyTerms []string
	snippetTerms(f, &subjectTerms, &bodyTerms)
	found, err := c.findEmails(ids)
	if err != nil {
		return nil, errServerFail(err)
	}
	list, notFound := []any{}, []string{}
	for _, id := range ids {
		ref, ok := found[id]
		if !ok {
			notFound = append(notFound, id)
			continue
		}
		snip := map[string]any{"emailId": id, "subject": nil, "preview": nil}
		if len(subjectTerms)+len(bodyTerms) > 0 {
			raw, err := c.s.raw(c.ctx, ref)
			if err != nil {
				notFound = append(notFound, id)
				continue
			}
			root := parseParts(raw)
			if subj, _ := text(root.Header, "Subject").(string); subj != "" {
				if s, ok := highlight(subj, subjectTerms); ok {
					snip["subject"] = s
				}
			}
			if s, ok := bodySnippet(preview(structure(root), -1), bodyTerms); ok {
				snip["preview"] = s
			}
		}
		list = append(list, snip)
	}
	return map[string]any{"accountId": c.acct.id, "list": list, "notFound": notFound}, nil
}

// snippetTerms collects the terms a filter searches subjects and bodies
// for.
func snippetTerms(f *filter, subject, body *[]string) {
	if f == nil || f.Operator == "NOT" {
		return
	}
	add := func(l *[]string, s string) {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	add(subject, f.Text)
	add(body, f.Text)
	add(subject, f.Subject)
	add(body, f.Body)
	for _, sub := range f.Conditions {
		snippetTerms(sub, subject, body)
	}
}

// foldIndex lower-cases s rune by rune and maps each byte of the result
// to the byte of s it came from, so matches found in the folded text can
// be cut from the original.
func foldIndex(s string) (string, []int) {
	var b strings.Builder
	var at []int
	for i, r := range s {
		n := b.Len()
		b.WriteRune(unicode.ToLower(r))
		for ; n < b.Len(); n++ {
			at = append(at, i)
		}
	}
	return b.String(), append(at, len(s))
}

// matches returns the non-overlapping [start, end) byte ranges of s where
// a term occurs (case-insensitively), in order.
func matches(s string, terms []string) [][2]int {
	folded, at := foldIndex(s)
	var out [][2]int
	for pos := 0; pos < len(folded); {
		best, bestLen := -1, 0
		for _, t := range terms {
			ft := strings.ToLower(t)
			if i := strings.Index(folded[pos:], ft); i >= 0 && (best < 0 || pos+i < best || (pos+i == best && len(ft) > bestLen)) {
				best, bestLen = pos+i, len(ft)
			}
		}
		if best < 0 {
			break
		}
		out = append(out, [2]int{at[best], at[best+bestLen]})
		pos = best + bestLen
	}
	return out
}

// highlight escapes s for HTML with every match of terms in <mark>;
// ok is false when nothing matched.
func highlight(s string, terms []string) (string, bool) {
	ms := matches(s, terms)
	if len(ms) == 0 {
		return "", false
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		b.WriteString(html.EscapeString(s[last:m[0]]))
		b.WriteString("<mark>")
		b.WriteString(html.EscapeString(s[m[0]:m[1]]))
		b.WriteString("</mark>")
		last = m[1]
	}
	b.WriteString(html.EscapeString(s[last:]))
	return b.String(), true
}

// bodySnippet cuts about maxSnippetBytes of text around the first match,
// highlighted.
func bodySnippet(text string, terms []string) (string, bool) {
	ms := matches(text, terms)
	if len(ms) == 0 {
		return "", false
	}
	start := max(ms[0][0]-maxSnippetBytes/4, 0)
	for start > 0 && !utf8.RuneStart(text[start]) {
		start--
	}
	end := min(start+maxSnippetBytes, len(text))
	for end < len(text) && !utf8.RuneStart(text[end]) {
		end--
	}
	if end < ms[0][1] {
		end = ms[0][1]
	}
	return highlight(text[start:end], terms)
}
