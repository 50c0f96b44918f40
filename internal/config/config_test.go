package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pochta.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExampleIsValid(t *testing.T) {
	c, err := Load("../../pochta.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "mx.example.test" || c.Delivery.RemotePort != 25 || len(c.Listen.IMAPS) != 1 {
		t.Fatalf("unexpected values: %+v", c)
	}
	if c.Queue.Expire.Hours() != 120 || c.Queue.Lease.Seconds() != 60 {
		t.Fatalf("queue.expire = %v, queue.lease = %v", c.Queue.Expire, c.Queue.Lease)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		`hostname = ""`:                                   "hostname",
		"[listen]\nsmtp = [\"nonsense\"]":                 "listen.smtp[0]",
		"[delivery]\nremote_port = 70000":                 "delivery.remote_port",
		"[limits]\nmax_message_size = 0":                  "limits.max_message_size",
		"[limits]\nmax_line_length = 100":                 "limits.max_line_length",
		"[limits]\nmax_hops = 5":                          "limits.max_hops",
		"[submission]\ntrusted_networks = [\"10.0.0.1\"]": "submission.trusted_networks[0]",
		"[log]\nlevel = \"loud\"":                         "log.level",
		"[tls]\ncert_file = \"/x\"":                       "tls.cert_file",
		"[queue]\nexpire = \"soon\"":                      "expire",
		"[queue]\nlease = \"0s\"":                         "queue.lease",
		"unknown_key = 1":                                 "unknown_key",
		"[relay.smarthost]\naddress = \"x\"":              "relay.smarthost.address",
		"[jmap]\ncors_origins = [\"example.com\"]":        "jmap.cors_origins[0]",
	}
	for body, key := range cases {
		_, err := Load(write(t, "data_dir = \"/tmp/x\"\n"+body))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v does not name %s", body, err, key)
		}
	}
}

func TestRelativeDataDir(t *testing.T) {
	p := write(t, "data_dir = \"data\"\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Join(filepath.Dir(p), "data") {
		t.Fatalf("data_dir = %s", c.DataDir)
	}
}

func TestEmptyListDisables(t *testing.T) {
	c, err := Load(write(t, "data_dir = \"/d\"\n[listen]\npop3 = []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listen.POP3) != 0 || len(c.Listen.SMTP) != 1 {
		t.Fatalf("listen = %+v", c.Listen)
	}
}
