package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuthSystemKeys(t *testing.T) {
	d := Default().Auth.System
	if d.Domain != "" || d.MinUID != 1000 || d.MaxUID != 60000 || d.PAMService != "pochta" {
		t.Fatalf("defaults %+v", d)
	}
	p := filepath.Join(t.TempDir(), "c.toml")
	write := func(body string) {
		if err := os.WriteFile(p, []byte("data_dir = \"d\"\n[auth.system]\n"+body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("domain = \"example.test\"\nmin_uid = 2000\nmax_uid = 3000\npam_service = \"login\"\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Auth.System; got != (AuthSystem{Domain: "example.test", MinUID: 2000, MaxUID: 3000, PAMService: "login"}) {
		t.Fatalf("loaded %+v", got)
	}
	for body, key := range map[string]string{
		"domain = \"kate@example.test\"\n": "auth.system.domain",
		"min_uid = 0\n":                    "auth.system.min_uid",
		"min_uid = 5000\nmax_uid = 4000\n": "auth.system.min_uid",
		"pam_service = \"\"\n":             "auth.system.pam_service",
	} {
		write(body)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), key) {
			t.Fatalf("%q: error %v does not name %s", body, err, key)
		}
	}
}
