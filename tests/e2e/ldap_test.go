package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pochta/internal/directory/slapdtest"
)

// TestLDAPJourney is the README's "Accounts from LDAP" promise with the
// built binary, a real OpenLDAP and Python's clients: the config names the
// directory, only the domain is added, and directory users receive mail
// (at any of their addresses, in one mailbox), read it over IMAP and POP3
// and send over submission with their directory passwords.
func TestLDAPJourney(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.PeopleLDIF)
	secret := filepath.Join(t.TempDir(), "ldap.secret")
	if err := os.WriteFile(secret, []byte("service-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Extra follows the harness's [auth] keys.
	extra := fmt.Sprintf(`sources = ["internal", "ldap"]

[auth.ldap]
url = %q
bind_dn = "cn=pochta,ou=services,dc=example,dc=test"
bind_password_file = %q
base_dn = "ou=people,dc=example,dc=test"
user_filter = "(&(objectClass=inetOrgPerson)(|(mail=%%s)(mailAlternateAddress=%%s)))"
address_attributes = ["mail", "mailAlternateAddress"]
group_dn = "cn=mail,ou=groups,dc=example,dc=test"
cache_seconds = 60
`, srv.URL, secret)
	in := newInstance(t, instanceOptions{Hostname: "mx.example.test", Extra: extra})
	if out := in.run("", "config check"); !strings.Contains(out, "service bind as \"cn=pochta,ou=services,dc=example,dc=test\" OK") {
		t.Fatalf("config check: %s", out)
	}
	in.run("", "domain add", "example.test")
	in.start()

	host, port := hostPort(t, in.addr["smtp"])
	python(t, "smtp_send.py", host, port, "plain", "john@remote.test", "sales@example.test", "For sales")
	out := python(t, "smtp_expect_refused.py", host, port, "john@remote.test", "bob@example.test")
	if !strings.Contains(out, "550") {
		t.Fatalf("bob is not in the mail group, yet: %s", out)
	}
	ih, ip := hostPort(t, in.addr["imap"])
	if got := python(t, "imap_fetch.py", ih, ip, "k.smith@example.test", "kate-pw", "INBOX"); !strings.Contains(got, "Subject: For sales") {
		t.Fatalf("kate's INBOX over IMAP:\n%s", got)
	}
	sh, sp := hostPort(t, in.addr["submission"])
	python(t, "smtp_send.py", sh, sp, "starttls", "kate@example.test", "lena@example.test", "From Kate", "kate@example.test", "kate-pw")
	ph, pp := hostPort(t, in.addr["pop3"])
	if got := python(t, "pop3_fetch.py", ph, pp, "lena@example.test", "lena-pw"); !strings.Contains(got, "Subject: From Kate") {
		t.Fatalf("lena's mail over POP3:\n%s", got)
	}
	in.stop()
	if out := in.run("", "user list"); !strings.Contains(out, "kate@example.test") || !strings.Contains(out, "lena@example.test") ||
		strings.Contains(out, "sales@example.test") {
		t.Fatalf("user list after the directory users' first mail: %s", out)
	}
}
