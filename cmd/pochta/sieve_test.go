package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pochta runs the CLI in-process with a config file, returning stdout.
func pochta(t *testing.T, cfg, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(append(args, "--config", cfg), strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

func TestSieveCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pochta.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.example.test\"\ndata_dir = \""+filepath.Join(dir, "data")+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun := func(stdin string, args ...string) string {
		t.Helper()
		out, err := pochta(t, cfg, stdin, args...)
		if err != nil {
			t.Fatalf("pochta %v: %v", args, err)
		}
		return out
	}
	mustRun("", "domain", "add", "example.test")
	mustRun("secret-password\n", "user", "add", "kate@example.test", "--password-stdin")

	if _, err := pochta(t, cfg, "", "sieve", "get", "kate@example.test"); err == nil || !strings.Contains(err.Error(), "no active script") {
		t.Fatalf("get without a script: %v", err)
	}
	script := "require \"fileinto\";\nif header :contains \"subject\" \"news\" { fileinto \"News\"; }\n"
	file := filepath.Join(dir, "rules.sieve")
	os.WriteFile(file, []byte(script), 0o600)
	mustRun("", "sieve", "set", "kate@example.test", file)
	if got := mustRun("", "sieve", "get", "kate@example.test"); got != script {
		t.Fatalf("get = %q, want %q", got, script)
	}
	mustRun("keep;\n", "sieve", "set", "kate@example.test", "-", "--name", "simple")
	if got := mustRun("", "sieve", "list", "kate@example.test"); got != "rules\nsimple\tactive\n" {
		t.Fatalf("list = %q", got)
	}
	if got := mustRun("", "sieve", "get", "kate@example.test"); got != "keep;\n" {
		t.Fatalf("get after the second set = %q", got)
	}
	// A script with an error is refused with its position; nothing changes.
	_, err := pochta(t, cfg, "fileinto \"x\";\n", "sieve", "set", "kate@example.test", "-", "--name", "broken")
	if err == nil || !strings.Contains(err.Error(), "line 1, column 1") {
		t.Fatalf("broken script: %v", err)
	}
	if got := mustRun("", "sieve", "list", "kate@example.test"); got != "rules\nsimple\tactive\n" {
		t.Fatalf("list after a refused set = %q", got)
	}
	if _, err := pochta(t, cfg, "", "sieve", "list", "nobody@example.test"); err == nil {
		t.Fatal("list for an unknown account succeeded")
	}
}
