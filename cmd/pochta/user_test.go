package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUserFlagsCLI: `user add --admin`, `user admin`, `user disable` and
// `user enable` show in `user list`; `dns records` lists the SRV records
// of the configured listeners, "not offered" for the others.
func TestUserFlagsCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pochta.toml")
	conf := "hostname = \"mx.example.test\"\ndata_dir = \"" + filepath.Join(dir, "data") + "\"\n" +
		"[listen]\nimaps = [\"127.0.0.1:993\"]\nsubmission = [\"127.0.0.1:587\"]\n" +
		"submissions = []\nimap = []\npop3 = []\npop3s = []\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := pochta(t, cfg, "secret-password\n", args...)
		if err != nil {
			t.Fatalf("pochta %v: %v", args, err)
		}
		return out
	}
	mustRun("domain", "add", "example.test")
	mustRun("user", "add", "--admin", "boss@example.test", "--password-stdin")
	mustRun("user", "add", "kate@example.test", "--password-stdin")
	want := "boss@example.test\tused 0\tno quota\tadmin\nkate@example.test\tused 0\tno quota\n"
	if got := mustRun("user", "list"); got != want {
		t.Fatalf("list = %q, want %q", got, want)
	}
	mustRun("user", "admin", "boss@example.test", "off")
	mustRun("user", "admin", "kate@example.test", "on")
	mustRun("user", "disable", "Kate@example.test")
	want = "boss@example.test\tused 0\tno quota\nkate@example.test\tused 0\tno quota\tadmin\tdisabled\n"
	if got := mustRun("user", "list"); got != want {
		t.Fatalf("list = %q, want %q", got, want)
	}
	mustRun("user", "enable", "kate@example.test")
	if got := mustRun("user", "list"); !strings.HasSuffix(got, "kate@example.test\tused 0\tno quota\tadmin\n") {
		t.Fatalf("list after enable = %q", got)
	}
	if _, err := pochta(t, cfg, "", "user", "admin", "kate@example.test", "maybe"); err == nil {
		t.Fatal("user admin maybe succeeded")
	}
	if _, err := pochta(t, cfg, "", "user", "disable", "nobody@example.test"); err == nil {
		t.Fatal("disabling an unknown account succeeded")
	}
	recs := mustRun("dns", "records", "example.test")
	for _, w := range []string{
		"_imaps._tcp.example.test. IN SRV 0 1 993 mx.example.test.",
		"_submission._tcp.example.test. IN SRV 10 1 587 mx.example.test.",
		"_pop3s._tcp.example.test. IN SRV 0 0 0 .",
		"_submissions._tcp.example.test. IN SRV 0 0 0 .",
		"example.test. IN MX 10 mx.example.test.",
	} {
		if !strings.Contains(recs, w) {
			t.Errorf("dns records lacks %q:\n%s", w, recs)
		}
	}
}
