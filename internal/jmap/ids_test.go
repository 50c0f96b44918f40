package jmap

import "testing"

// TestParseID: one spelling per id; only blob ids name a part.
func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		id     string
		prefix byte
		n      int64
		part   string
		ok     bool
	}{
		{"e5", 'e', 5, "", true},
		{"t123", 't', 123, "", true},
		{"b7_2", 'b', 7, "2", true},
		{"b7.2", 'b', 0, "", false}, // "." is not in the id alphabet
		{"e05", 'e', 0, "", false},
		{"e+5", 'e', 0, "", false},
		{"e0", 'e', 0, "", false},
		{"e", 'e', 0, "", false},
		{"t5_1", 't', 0, "", false},
		{"b7_", 'b', 0, "", false},
		{"e12.5", 'e', 0, "", false}, // the old mailbox.uid form
		{"x5", 'e', 0, "", false},
	} {
		n, part, ok := parseID(tc.id, tc.prefix)
		if ok != tc.ok || (ok && (n != tc.n || part != tc.part)) {
			t.Errorf("parseID(%q) = %d %q %t", tc.id, n, part, ok)
		}
	}
}
