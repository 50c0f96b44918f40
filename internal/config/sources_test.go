package config

import (
	"slices"
	"strings"
	"testing"
)

func TestAuthSources(t *testing.T) {
	d := Default().Auth
	if !slices.Equal(d.Sources, []string{"internal"}) || d.LDAP.CacheSeconds != 60 || !strings.Contains(d.LDAP.UserFilter, "%s") {
		t.Fatalf("defaults %+v", d)
	}
	c, err := Load(write(t, `data_dir = "d"
[auth]
sources = ["ldap", "internal"]
[auth.ldap]
url = "ldaps://dc1.example.test"
bind_dn = "CN=pochta,OU=Services,DC=example,DC=test"
bind_password_file = "/etc/pochta/ldap.secret"
base_dn = "DC=example,DC=test"
user_filter = "(&(objectClass=user)(|(userPrincipalName=%s)(proxyAddresses=smtp:%s)))"
address_attributes = ["proxyAddresses"]
group_dn = "CN=Mail,OU=Groups,DC=example,DC=test"
quota_attribute = "mailQuota"
cache_seconds = 30
`))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Auth.LDAP; !slices.Equal(c.Auth.Sources, []string{"ldap", "internal"}) || l.URL != "ldaps://dc1.example.test" ||
		!slices.Equal(l.AddressAttributes, []string{"proxyAddresses"}) || l.CacheSeconds != 30 || l.Timeout.Seconds() != 5 {
		t.Fatalf("loaded %+v", c.Auth)
	}
	cases := map[string]string{
		"[auth]\nsources = []":                           "auth.sources",
		"[auth]\nsources = [\"nis\"]":                    "auth.sources[0]",
		"[auth]\nsources = [\"internal\", \"internal\"]": "auth.sources[1]",
		"[auth]\nsources = [\"ldap\"]\n[auth.ldap]\nbase_dn = \"dc=x\"\nurl = \"http://x\"":                             "auth.ldap.url",
		"[auth]\nsources = [\"ldap\"]\n[auth.ldap]\nurl = \"ldap://x\"":                                                 "auth.ldap.base_dn",
		"[auth]\nsources = [\"ldap\"]\n[auth.ldap]\nurl = \"ldaps://x\"\nbase_dn = \"dc=x\"\nstarttls = true":           "auth.ldap.starttls",
		"[auth]\nsources = [\"ldap\"]\n[auth.ldap]\nurl = \"ldap://x\"\nbase_dn = \"dc=x\"\nbind_dn = \"cn=a\"":         "auth.ldap.bind_password_file",
		"[auth]\nsources = [\"ldap\"]\n[auth.ldap]\nurl = \"ldap://x\"\nbase_dn = \"dc=x\"\nuser_filter = \"(mail=x)\"": "auth.ldap.user_filter",
		"[auth]\nsources = [\"ldap\"]\n[auth.ldap]\nurl = \"ldap://x\"\nbase_dn = \"dc=x\"\naddress_attributes = []":    "auth.ldap.address_attributes",
		"[auth]\nsources = [\"ldap\"]\n[auth.ldap]\nurl = \"ldap://x\"\nbase_dn = \"dc=x\"\ncache_seconds = -1":         "auth.ldap.cache_seconds",
		"[auth.ldap]\nurl = \"ldap://x\"\nbase_dn = \"dc=x\"\nno_such_key = 1":                                          "auth.ldap.no_such_key",
	}
	for body, key := range cases {
		_, err := Load(write(t, "data_dir = \"/tmp/x\"\n"+body))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v does not name %s", body, err, key)
		}
	}
	// [auth.ldap] is checked only when "ldap" is a source.
	if _, err := Load(write(t, "data_dir = \"d\"\n[auth.ldap]\nurl = \"nonsense\"\n")); err != nil {
		t.Errorf("unused [auth.ldap]: %v", err)
	}
}
