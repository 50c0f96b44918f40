package jmap

import (
	"testing"

	"pochta/internal/sieve"
)

// TestVacationBlockPlacement: the generated block goes after the opening
// require commands (comments, bracket lists; ";" inside the vacation text),
// the script still parses, and splitVacation gives back the object and
// the script without the block.
func TestVacationBlockPlacement(t *testing.T) {
	text := "Away; \"really\" \\ back soon"
	v := vacationResponse{IsEnabled: true, TextBody: &text}
	for _, tc := range []struct{ script, head string }{
		{"", ""},
		{"keep;\n", ""},
		{"require \"fileinto\";\nkeep;\n", "require \"fileinto\";\n"},
		{"/* a; b */ require [\"fileinto\", \"body\"] ;\r\n# c;\nrequire \"imap4flags\";\nif true { keep; }\n",
			"/* a; b */ require [\"fileinto\", \"body\"] ;\r\n# c;\nrequire \"imap4flags\";\n"},
	} {
		at := afterRequires(tc.script)
		if tc.script[:at] != tc.head {
			t.Errorf("afterRequires(%q) = %q, want %q", tc.script, tc.script[:at], tc.head)
			continue
		}
		if tc.head == "" && tc.script != "" && at != 0 {
			t.Errorf("afterRequires(%q) = %d", tc.script, at)
		}
		content := tc.script[:at] + vacationBlock(v) + tc.script[at:]
		if _, err := sieve.Parse(content); err != nil {
			t.Errorf("%q does not parse: %v", content, err)
		}
		before, after, got := splitVacation(content)
		if before+after != tc.script || !got.IsEnabled || got.TextBody == nil || *got.TextBody != text {
			t.Errorf("splitVacation(%q) = %q, %q, %+v", content, before, after, got)
		}
	}
}
