package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpamTrainCLI: `pochta spam train` teaches an account from one file
// and from a Maildir folder, and refuses bad arguments.
func TestSpamTrainCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pochta.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.example.test\"\ndata_dir = \"data\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pochta := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := run(append(args, "--config", cfg), strings.NewReader(stdin), &out, &out)
		return out.String(), err
	}
	mustRun := func(stdin string, args ...string) string {
		t.Helper()
		out, err := pochta(stdin, args...)
		if err != nil {
			t.Fatalf("pochta %v: %v\n%s", args, err, out)
		}
		return out
	}
	mustRun("", "domain", "add", "example.test")
	mustRun("pw-kate-123\n", "user", "add", "--password-stdin", "kate@example.test")

	corpus := filepath.Join("..", "..", "internal", "spam", "testdata", "corpus")
	out := mustRun("", "spam", "train", "kate@example.test", "--spam", filepath.Join(corpus, "spam", "000.eml"))
	if !strings.Contains(out, "trained 1 messages as spam for kate@example.test (now 1 spam, 0 ham)") {
		t.Fatalf("file: %s", out)
	}
	// A Maildir folder with LF line ends, as Dovecot writes them.
	md := filepath.Join(dir, "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	hams, _ := filepath.Glob(filepath.Join(corpus, "ham", "00*.eml"))
	for i, h := range hams {
		b, err := os.ReadFile(h)
		if err != nil {
			t.Fatal(err)
		}
		sub := "cur"
		if i%2 == 0 {
			sub = "new"
		}
		name := filepath.Join(md, sub, "17000000"+string(rune('0'+i))+".M1P1.host:2,S")
		if err := os.WriteFile(name, bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out = mustRun("", "spam", "train", "--ham", "kate@example.test", md)
	if want := "trained 10 messages as ham for kate@example.test (now 1 spam, 10 ham)"; !strings.Contains(out, want) {
		t.Fatalf("maildir: %s, want %s", out, want)
	}
	for _, bad := range [][]string{
		{"spam", "train", "kate@example.test", filepath.Join(corpus, "spam", "000.eml")},
		{"spam", "train", "kate@example.test", "--spam", "--ham", filepath.Join(corpus, "spam", "000.eml")},
		{"spam", "train", "nobody@example.test", "--spam", filepath.Join(corpus, "spam", "000.eml")},
		{"spam", "train", "kate@example.test", "--spam", dir + "/missing"},
		{"spam", "train", "kate@example.test", "--spam", corpus},
	} {
		if out, err := pochta("", bad...); err == nil {
			t.Errorf("pochta %v succeeded: %s", bad, out)
		}
	}
}
