package sieve

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
)

// maxBodyText bounds the decoded body text a body test looks at.
const maxBodyText = 4 << 20

func (r *run) test(t *Test) (bool, error) {
	switch t.Name {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "not":
		ok, err := r.test(t.Tests[0])
		return !ok, err
	case "allof", "anyof":
		want := t.Name == "anyof"
		for _, sub := range t.Tests {
			ok, err := r.test(sub)
			if err != nil || ok == want {
				return ok, err
			}
		}
		return !want, nil
	case "exists":
		for _, h := range r.strs(t.pos[0]) {
			if len(r.msg.HeaderValues(h)) == 0 {
				return false, nil
			}
		}
		return true, nil
	case "size":
		n := int64(len(r.in.Content))
		if t.tags["size"].Tag == "over" {
			return n > t.pos[0].Num, nil
		}
		return n < t.pos[0].Num, nil
	case "header":
		var vals []string
		for _, h := range r.strs(t.pos[0]) {
			vals = append(vals, r.msg.HeaderValues(h)...)
		}
		return r.compare(t, vals, r.strs(t.pos[1]))
	case "address":
		var vals []string
		for _, h := range r.strs(t.pos[0]) {
			for _, v := range r.msg.HeaderValues(h) {
				for _, a := range addresses(v) {
					vals = append(vals, addrPart(t, a))
				}
			}
		}
		return r.compare(t, vals, r.strs(t.pos[1]))
	case "envelope":
		var vals []string
		for _, part := range r.strs(t.pos[0]) {
			switch strings.ToLower(part) {
			case "from":
				vals = append(vals, addrPart(t, r.in.From))
			case "to":
				vals = append(vals, addrPart(t, r.in.To))
			}
		}
		return r.compare(t, vals, r.strs(t.pos[1]))
	case "string":
		return r.compare(t, r.strs(t.pos[0]), r.strs(t.pos[1]))
	case "hasflag":
		var vals []string
		if t.pos[0].Strs == nil {
			vals = r.flags
		} else {
			for _, v := range r.strs(t.pos[0]) {
				vals = append(vals, r.getFlags(strings.ToLower(v))...)
			}
		}
		return r.compare(t, vals, r.flagList(t.pos[1]))
	case "mailboxexists":
		for _, name := range r.strs(t.pos[0]) {
			if r.in.MailboxExists == nil || !r.in.MailboxExists(name) {
				return false, nil
			}
		}
		return true, nil
	case "body":
		return r.compare(t, r.body(t), r.strs(t.pos[0]))
	}
	return false, rtErr("test %q not implemented", t.Name)
}

// addresses parses a header value as an address list; a value that does
// not parse is taken as one address as it is (RFC 5228 §2.7.4 asks not to
// fail on invalid addresses).
func addresses(v string) []string {
	list, err := mail.ParseAddressList(v)
	if err != nil {
		v = strings.TrimSpace(v)
		if v == "" {
			return nil
		}
		return []string{strings.Trim(v, "<>")}
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Address
	}
	return out
}

// addrPart picks :all (default), :localpart or :domain of an address.
func addrPart(t *Test, a string) string {
	at := strings.LastIndexByte(a, '@')
	switch t.tags["addrpart"].Tag {
	case "localpart":
		if at >= 0 {
			return a[:at]
		}
		return a
	case "domain":
		if at >= 0 {
			return a[at+1:]
		}
		return ""
	}
	return a
}

// compare applies the test's match type and comparator: true when any
// value matches any key (RFC 5228 §2.7.1).
func (r *run) compare(t *Test, vals, keys []string) (bool, error) {
	mt := t.tags["match"].Tag
	if mt == "" {
		mt = "is"
	}
	fold := true
	if c, ok := t.tags["comparator"]; ok && strings.EqualFold(c.Strs[0], "i;octet") {
		fold = false
	}
	for _, v := range vals {
		for _, k := range keys {
			cost := len(v) + len(k)
			if mt == "matches" { // the wildcard matcher is O(len(v)·len(k)) at worst
				cost += len(v) / 4 * len(k)
			}
			r.budget -= cost
			if r.budget < 0 {
				return false, rtErr("script needs too much work on this message")
			}
			switch mt {
			case "is":
				if equal(v, k, fold) {
					return true, nil
				}
			case "contains":
				if contains(v, k, fold) {
					return true, nil
				}
			case "matches":
				if caps, ok := globMatch(k, v, fold); ok {
					if r.s.Requires["variables"] {
						r.match = append([]string{v}, caps...)
					}
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// body returns the strings a body test compares (RFC 5173 §5): the raw
// body, the decoded text parts (:text, the default) or the decoded parts
// of the listed content types.
func (r *run) body(t *Test) []string {
	tr := t.tags["transform"]
	if tr.Tag == "raw" {
		raw := r.in.Content
		if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
			return []string{string(raw[i+4:])}
		}
		if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
			return []string{string(raw[i+2:])}
		}
		return []string{""}
	}
	types := []string{"text"}
	if tr.Tag == "content" {
		types = r.strs(tr)
	}
	var out []string
	total := 0
	e, err := gomessage.Read(bytes.NewReader(r.in.Content))
	if e == nil {
		return nil
	}
	_ = err // unknown charsets and encodings: the part is read undecoded
	e.Walk(func(path []int, part *gomessage.Entity, err error) error {
		if err != nil || total > maxBodyText {
			return nil
		}
		mt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if mt == "" {
			mt = "text/plain"
		}
		if strings.HasPrefix(mt, "multipart/") && tr.Tag != "content" {
			return nil
		}
		for _, want := range types {
			want = strings.ToLower(want)
			if want == "" || want == mt || !strings.Contains(want, "/") && strings.HasPrefix(mt, want+"/") {
				b, _ := io.ReadAll(io.LimitReader(part.Body, maxBodyText))
				total += len(b)
				out = append(out, string(b))
				break
			}
		}
		return nil
	})
	return out
}

// charsetReader keeps go-message's charset table referenced, so decoding
// legacy charsets in body tests works.
var _ = charset.Reader

func equal(a, b string, fold bool) bool {
	if fold {
		return asciiFold(a) == asciiFold(b)
	}
	return a == b
}

func contains(a, b string, fold bool) bool {
	if fold {
		return strings.Contains(asciiFold(a), asciiFold(b))
	}
	return strings.Contains(a, b)
}

// asciiFold is the i;ascii-casemap comparator (RFC 4790 §9.2): only
// ASCII letters are folded.
func asciiFold(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
