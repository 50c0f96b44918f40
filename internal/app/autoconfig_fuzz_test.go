package app

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzAutodiscoverRequest feeds arbitrary bodies to the Autodiscover
// request parser (the one network parser of the autoconfiguration): no
// input may panic, and a parsed address is never empty or padded.
func FuzzAutodiscoverRequest(f *testing.F) {
	f.Add([]byte(`<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>kate@example.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`))
	f.Add([]byte(`<Autodiscover><Request><EMailAddress> </EMailAddress></Request></Autodiscover>`))
	f.Add([]byte(`<Other><Request><EMailAddress>a@b</EMailAddress></Request></Other>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><Autodiscover><Request><EMailAddress>&a;</EMailAddress></Request></Autodiscover>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		email, err := parseAutodiscoverRequest(bytes.NewReader(body))
		if err == nil && (email == "" || strings.TrimSpace(email) != email) {
			t.Fatalf("parsed %q from %q", email, body)
		}
	})
}
