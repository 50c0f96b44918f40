package config

import (
	"strings"
	"testing"
)

func TestChecksDefaultsAndKeys(t *testing.T) {
	c := Default()
	if c.Checks.SPF != "score" || c.Checks.DKIM != "score" || c.Checks.DMARC != "enforce" || c.Checks.IPRev != "score" || len(c.Checks.DNSBL) != 0 {
		t.Fatalf("checks defaults = %+v", c.Checks)
	}
	cases := map[string]string{
		"[checks]\nspf = \"enforce\"":         "checks.spf",
		"[checks]\ndkim = \"strict\"":         "checks.dkim",
		"[checks]\ndmarc = \"reject\"":        "checks.dmarc",
		"[checks]\niprev = \"loose\"":         "checks.iprev",
		"[checks]\ndnsbl = [\"a b.org\"]":     "checks.dnsbl[0]",
		"[checks]\ndnsbl = [\"ok.org\",\"\"]": "checks.dnsbl[1]",
	}
	for body, key := range cases {
		_, err := Load(write(t, "data_dir = \"/tmp/x\"\n"+body))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v does not name %s", body, err, key)
		}
	}
	c, err := Load(write(t, "data_dir = \"/tmp/x\"\n[checks]\nspf = \"reject\"\niprev = \"strict\"\ndmarc = \"off\"\ndnsbl = [\"zen.spamhaus.org\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Checks.SPF != "reject" || c.Checks.IPRev != "strict" || c.Checks.DMARC != "off" || c.Checks.DKIM != "score" || c.Checks.DNSBL[0] != "zen.spamhaus.org" {
		t.Fatalf("checks = %+v", c.Checks)
	}
}
