package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pochta/internal/dane"
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

// TestDNSRecordsTLSAWithACME: with [tls] acme, `pochta dns records`
// prints the TLSA record of the ACME certificate's key (kept across
// renewals by acmecert), not the self-signed one's.
func TestDNSRecordsTLSAWithACME(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "pochta.toml")
	if err := os.WriteFile(cfg, []byte("hostname = \"mx.example.test\"\ndata_dir = \""+data+"\"\n[tls]\nacme = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := pochta(t, cfg, "", "dns", "records", "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "; (no certificate yet: start pochta once)\n") || strings.Contains(out, "IN TLSA") {
		t.Fatalf("TLSA printed before ACME has a certificate:\n%s", out)
	}
	self, err := tlscert.Load("", "", "mx.example.test", data)
	if err != nil {
		t.Fatal(err)
	}
	// A stand-in for the ACME certificate: another key, in data/acme.
	other, err := tlscert.Load("", "", "mx.example.test", filepath.Join(dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	pemData, err := os.ReadFile(filepath.Join(dir, "other", "tls", "selfsigned.crt"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(data, "acme"), 0o700)
	if err := os.WriteFile(filepath.Join(data, "acme", "cert.pem"), pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = pochta(t, cfg, "", "dns", "records", "example.test")
	if err != nil {
		t.Fatal(err)
	}
	want := "_25._tcp.mx.example.test. IN TLSA " + dane.Record(other.Certificates[0].Leaf) + "\n"
	if !strings.Contains(out, want) || strings.Contains(out, dane.Record(self.Certificates[0].Leaf)) {
		t.Fatalf("want %q (the ACME key), got:\n%s", want, out)
	}
}
