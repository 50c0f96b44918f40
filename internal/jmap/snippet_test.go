package jmap

import (
	"strings"
	"testing"
)

// TestHighlight: terms are marked case-insensitively (also beyond ASCII,
// where lower-casing changes byte lengths), the rest is HTML-escaped, the
// earliest and then longest term wins, nothing matched is not ok.
func TestHighlight(t *testing.T) {
	for _, tc := range []struct {
		s     string
		terms []string
		want  string
	}{
		{"Hello <World> & co", []string{"world"}, "Hello &lt;<mark>World</mark>&gt; &amp; co"},
		{"plan PLAN Plan", []string{"plan"}, "<mark>plan</mark> <mark>PLAN</mark> <mark>Plan</mark>"},
		{"İstanbul trip", []string{"trip"}, "İstanbul <mark>trip</mark>"},
		{"ÄRGER ärger", []string{"ärger"}, "<mark>ÄRGER</mark> <mark>ärger</mark>"},
		{"quarterly report", []string{"report", "quarterly report"}, "<mark>quarterly report</mark>"},
		{"nothing here", []string{"absent"}, ""},
	} {
		got, ok := highlight(tc.s, tc.terms)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("highlight(%q, %q) = %q, %t; want %q", tc.s, tc.terms, got, ok, tc.want)
		}
	}
	long := strings.Repeat("filler words ", 100) + "the needle is here " + strings.Repeat("more text ", 100)
	got, ok := bodySnippet(long, []string{"NEEDLE"})
	if !ok || !strings.Contains(got, "<mark>needle</mark>") || len(got) > maxSnippetBytes+len("<mark></mark>") {
		t.Errorf("bodySnippet: %q", got)
	}
}
