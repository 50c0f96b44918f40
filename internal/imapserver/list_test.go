package imapserver

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestListGolden runs the scripts in testdata/list: LIST-EXTENDED
// (RFC 5258) and LSUB/SUBSCRIBE (RFC 3501 §6.3.6-9) cases that Dovecot's
// imaptest once found wrong. Each script runs in a fresh IMAP4rev1 session.
func TestListGolden(t *testing.T) {
	scripts, err := filepath.Glob("testdata/list/*.txt")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, script := range scripts {
		t.Run(strings.TrimSuffix(filepath.Base(script), ".txt"), func(t *testing.T) {
			runScript(t, newEnv(t, envOptions{}).login(), script)
		})
	}
}

// runScript runs a protocol script on c. A command line must answer OK
// (or BAD/NO when it starts with that word); a "* ..." line must be one of
// the untagged responses of the command before it, exactly; after "! ",
// text that no untagged response of that command may end with. Empty lines
// and lines starting with "#" are skipped.
func runScript(t *testing.T, c *rawClient, script string) {
	t.Helper()
	raw, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	var cmd string
	var lines []string
	checks := 0
	for i, l := range strings.Split(string(raw), "\n") {
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "* "):
			if !slices.Contains(lines, l) {
				t.Errorf("%s:%d: %s: missing %q in %q", script, i+1, cmd, l, lines)
			}
			checks++
		case strings.HasPrefix(l, "! "):
			for _, got := range lines {
				if strings.HasSuffix(got, l[2:]) {
					t.Errorf("%s:%d: %s: unexpected %q", script, i+1, cmd, got)
				}
			}
			checks++
		default:
			want := "OK"
			cmd = l
			if w, rest, ok := strings.Cut(l, " "); ok && (w == "BAD" || w == "NO") {
				want, cmd = w, rest
			}
			var st string
			lines, st = c.run(cmd)
			if !strings.HasPrefix(st, want) {
				t.Fatalf("%s:%d: %s: %q, want %s", script, i+1, cmd, st, want)
			}
		}
	}
	if checks == 0 {
		t.Fatalf("%s: no checks", script)
	}
}
