package jmap

import (
	"net/mail"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
)

// rawHeaders lists the header fields in order (RFC 8621 §4.1.3 headers).
func rawHeaders(h gomessage.Header) []any {
	out := []any{}
	f := h.Fields()
	for f.Next() {
		out = append(out, map[string]any{"name": f.Key(), "value": " " + f.Value()})
	}
	return out
}

// headerProp answers a "header:{name}[:as{Form}][:all]" property (RFC 8621
// §4.1.3); ok is false for an unknown form.
func headerProp(h gomessage.Header, prop string) (any, bool) {
	parts := strings.Split(prop, ":")[1:]
	if len(parts) == 0 || parts[0] == "" || len(parts) > 3 {
		return nil, false
	}
	name, form, all := parts[0], "asRaw", false
	for _, p := range parts[1:] {
		switch {
		case p == "all":
			all = true
		case strings.HasPrefix(p, "as"):
			form = p
		default:
			return nil, false
		}
	}
	var values []string
	f := h.FieldsByKey(name)
	for f.Next() {
		values = append(values, f.Value())
	}
	conv := func(v string) (any, bool) {
		one := gomessage.Header{}
		one.Set(name, v)
		switch form {
		case "asRaw":
			return " " + v, true
		case "asText":
			return text(one, name), true
		case "asAddresses":
			return addresses(one, name), true
		case "asMessageIds":
			return messageIDs(one, name), true
		case "asDate":
			return date(one, name), true
		case "asURLs":
			var urls []string
			for _, u := range strings.Split(v, ",") {
				if u = strings.TrimSpace(u); strings.HasPrefix(u, "<") && strings.HasSuffix(u, ">") {
					urls = append(urls, u[1:len(u)-1])
				}
			}
			return urls, true
		}
		return nil, false
	}
	if all {
		out := []any{}
		for _, v := range values {
			x, ok := conv(v)
			if !ok {
				return nil, false
			}
			out = append(out, x)
		}
		return out, true
	}
	if len(values) == 0 {
		_, ok := conv("")
		return nil, ok
	}
	return conv(values[len(values)-1])
}

// parseTime reads a UTCDate or Date argument (RFC 3339).
func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if t2, err2 := mail.ParseDate(s); err2 == nil {
			return t2, true
		}
		return time.Time{}, false
	}
	return t, true
}
