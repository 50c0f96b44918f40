package sieve

import (
	"strings"
	"testing"
)

// TestWorkBudget: a script that would compare too much on a big message
// stops with a runtime error (and the implicit keep) instead of running on.
func TestWorkBudget(t *testing.T) {
	s, err := Parse(`require ["body", "fileinto"]; if body :matches ["*` + strings.Repeat("a*", 200) + `b", "*x*"] { fileinto "x"; }`)
	if err != nil {
		t.Fatal(err)
	}
	msg := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("a", 998)+"\r\n", 3000)
	res := s.Run(&Input{Content: []byte(msg)})
	if res.Err == nil || !strings.Contains(res.Err.Error(), "too much work") || len(res.Actions) != 1 || res.Actions[0].Kind != ActKeep {
		t.Fatalf("result %+v", res)
	}
}
