package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pochta/internal/mtasts"
	"pochta/internal/tlscert"
)

// TestTLSStatus: the certificate (names, issuer, expiry, TLSA) and the
// cached MTA-STS policies are printed.
func TestTLSStatus(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "pochta.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.example.test\"\ndata_dir = \""+data+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tlscert.Load("", "", "mx.example.test", data); err != nil {
		t.Fatal(err)
	}
	p := mtasts.Published("enforce", "mx.remote.test")
	entry := `[{"Domain": "remote.test", "ID": "abc", "Policy": ` + strings.ReplaceAll(strings.ReplaceAll(`"`+p.String()+`"`, "\r", `\r`), "\n", `\n`) +
		`, "Expires": "` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}]`
	os.MkdirAll(filepath.Join(data, "mtasts"), 0o700)
	if err := os.WriteFile(filepath.Join(data, "mtasts", "policies.json"), []byte(entry), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := pochta(t, cfg, "", "tls", "status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"selfsigned.crt\n", "names:   mx.example.test\n", "TLSA:    3 1 1 ", "MTA-STS policies of recipient domains: 1\n",
		"  remote.test  mode enforce  mx mx.remote.test  id abc  valid until "} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
