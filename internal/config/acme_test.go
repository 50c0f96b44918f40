package config

import (
	"slices"
	"strings"
	"testing"
)

// TestACMEDomainNames: the default labels, a list of one's own, and an
// error that names the key for something that is not a DNS label.
func TestACMEDomainNames(t *testing.T) {
	if d := Default().TLS.ACMEDomainNames; !slices.Equal(d, []string{"mail", "mta-sts", "autoconfig"}) {
		t.Fatalf("default %v", d)
	}
	c, err := Load(write(t, "data_dir = \"/d\"\n[tls]\nacme = true\nacme_domain_names = [\"mta-sts\", \"imap.eu\"]\n"))
	if err != nil || !slices.Equal(c.TLS.ACMEDomainNames, []string{"mta-sts", "imap.eu"}) {
		t.Fatalf("%v %v", c, err)
	}
	for _, bad := range []string{"mta sts", "-x", "x.", ".x", "", "a_b"} {
		_, err := Load(write(t, "data_dir = \"/d\"\n[tls]\nacme = true\nacme_domain_names = [\""+bad+"\"]\n"))
		if err == nil || !strings.Contains(err.Error(), "tls.acme_domain_names") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
