package web

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pochta/internal/sieve"
)

// TestRuleGolden: each testdata/rules/NAME.json (a script and the rules
// added to it one by one) gives NAME.sieve, which internal/sieve parses;
// a bad rule is refused with a message.
func TestRuleGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/rules/*.json")
	if len(files) == 0 {
		t.Fatal("no golden cases")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Script string
			Rules  []Rule
		}
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		script := c.Script
		for _, ru := range c.Rules {
			if script, err = addRule(script, ru); err != nil {
				t.Fatalf("%s: %+v: %v", f, ru, err)
			}
		}
		if _, err := sieve.Parse(script); err != nil {
			t.Errorf("%s: the script does not parse: %v\n%s", f, err, script)
		}
		golden := strings.TrimSuffix(f, ".json") + ".sieve"
		if *update {
			os.WriteFile(golden, []byte(script), 0o644)
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if script != string(want) {
			t.Errorf("%s:\n%s\nwant\n%s", f, script, want)
		}
	}
	for _, bad := range []Rule{
		{Header: "subject", Contains: "x", Action: "explode"},
		{Header: "sub ject", Contains: "x", Action: "read"},
		{Header: "subject", Contains: "", Action: "read"},
		{Header: "subject", Contains: "a\nb", Action: "read"},
		{Header: "subject", Contains: "x", Action: "move"},
	} {
		if _, err := addRule("", bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
