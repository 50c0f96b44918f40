// Package slapdtest runs a real OpenLDAP server (Debian's slapd) for
// tests: on a loopback port, with its own configuration and database in
// the test's temporary folder, never as a system service, killed by its
// PID when the test ends. The directory is dc=example,dc=test, its root
// cn=admin,dc=example,dc=test with password "secret"; a small test schema
// adds mailAlternateAddress, mailQuota and the Active Directory user
// attributes (userPrincipalName, sAMAccountName, proxyAddresses,
// userAccountControl, memberOf) through the auxiliary class pochtaUser.
package slapdtest

import (
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pochta/internal/tlscert"
)

// Suffix, RootDN and RootPassword of the test directory.
const (
	Suffix       = "dc=example,dc=test"
	RootDN       = "cn=admin," + Suffix
	RootPassword = "secret"
)

const slapdPath = "/usr/sbin/slapd"

// testSchema uses OIDs under an example private arc.
const testSchema = `
attributetype ( 1.3.6.1.4.1.99999.1.1 NAME 'mailAlternateAddress'
	EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{256} )
attributetype ( 1.3.6.1.4.1.99999.1.2 NAME 'mailQuota'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.1.3 NAME 'userPrincipalName'
	EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.1.4 NAME 'sAMAccountName'
	EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.1.5 NAME 'proxyAddresses'
	EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
attributetype ( 1.3.6.1.4.1.99999.1.6 NAME 'userAccountControl'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.99999.1.7 NAME 'memberOf'
	EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
objectclass ( 1.3.6.1.4.1.99999.2.1 NAME 'pochtaUser' AUXILIARY
	MAY ( mailAlternateAddress $ mailQuota $ userPrincipalName $ sAMAccountName $
	      proxyAddresses $ userAccountControl $ memberOf ) )
`

// Server is a running slapd.
type Server struct {
	URL string // ldap://127.0.0.1:port
	// With StartTLS: ldaps://127.0.0.1:port, and the PEM file of the
	// self-signed certificate both URLs present (also for StartTLS).
	LDAPSURL string
	CAFile   string

	t    testing.TB
	dir  string
	addr string
	// ldapsAddr is the ldaps:// listener's, with StartTLS.
	ldapsAddr string
	// started: addr is the server's for good (a restart keeps it).
	started bool
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Start starts slapd with an empty directory holding only the suffix
// entry, then adds ldif (entries, as ldapadd takes them). The server is
// stopped when the test ends. A missing slapd fails the test, naming the
// Debian packages to install.
func Start(t testing.TB, ldif string) *Server {
	t.Helper()
	return start(t, ldif, false)
}

// StartTLS is Start with TLS: a self-signed certificate for 127.0.0.1,
// StartTLS on URL and implicit TLS on LDAPSURL.
func StartTLS(t testing.TB, ldif string) *Server {
	t.Helper()
	return start(t, ldif, true)
}

func start(t testing.TB, ldif string, withTLS bool) *Server {
	t.Helper()
	for _, p := range []string{slapdPath, "/usr/bin/ldapmodify"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing: install the Debian packages slapd and ldap-utils (%v)", p, err)
		}
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "test.schema"), []byte(testSchema), 0o600); err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	for _, s := range []string{"core", "cosine", "inetorgperson", "nis"} {
		fmt.Fprintf(&conf, "include /etc/ldap/schema/%s.schema\n", s)
	}
	fmt.Fprintf(&conf, `include %s/test.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %s/slapd.pid
database mdb
suffix %q
rootdn %q
rootpw %s
directory %s/db
maxsize 10485760
`, dir, dir, Suffix, RootDN, RootPassword, dir)
	s := &Server{t: t, dir: dir}
	if withTLS {
		// tlscert's self-signed certificate names 127.0.0.1 too.
		if _, err := tlscert.Load("", "", "localhost", dir); err != nil {
			t.Fatal(err)
		}
		s.CAFile = filepath.Join(dir, "tls", "selfsigned.crt")
		fmt.Fprintf(&conf, "TLSCertificateFile %s\nTLSCertificateKeyFile %s\n", s.CAFile, filepath.Join(dir, "tls", "selfsigned.key"))
		s.ldapsAddr = freePort(t)
	}
	if err := os.WriteFile(filepath.Join(dir, "slapd.conf"), []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(s.Stop)
	s.Modify("dn: " + Suffix + "\nobjectClass: dcObject\nobjectClass: organization\no: example\ndc: example\n\n" + ldif)
	return s
}

// start runs slapd (on a new free port the first time, on the same port
// after Stop) and waits until it accepts connections.
func (s *Server) start() {
	s.t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		if !s.started {
			s.addr = freePort(s.t)
		}
		s.URL = "ldap://" + s.addr
		urls := s.URL + "/"
		if s.ldapsAddr != "" {
			s.LDAPSURL = "ldaps://" + s.ldapsAddr
			urls += " " + s.LDAPSURL + "/"
		}
		cmd := exec.Command(slapdPath, "-h", urls, "-f", filepath.Join(s.dir, "slapd.conf"), "-d", "0")
		out, err := os.Create(filepath.Join(s.dir, "slapd.log"))
		if err != nil {
			s.t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			s.t.Fatalf("starting slapd: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); out.Close(); close(exited) }()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			select {
			case <-exited:
				deadline = time.Time{} // port taken meanwhile, or a bad config: try again
				continue
			default:
			}
			if c, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
				c.Close()
				s.cmd, s.exited, s.started = cmd, exited, true
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Kill()
		<-exited
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "slapd.log"))
	s.t.Fatalf("slapd did not start on %s:\n%s", s.addr, log)
}

// Stop kills slapd (by its PID) and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts slapd again after Stop, on the same port and database.
func (s *Server) Restart() {
	s.t.Helper()
	s.start()
}

// Modify applies ldif with ldapmodify as the root DN; records without a
// changetype are added.
func (s *Server) Modify(ldif string) {
	s.t.Helper()
	cmd := exec.Command("/usr/bin/ldapmodify", "-a", "-x", "-H", s.URL, "-D", RootDN, "-w", RootPassword)
	cmd.Stdin = strings.NewReader(ldif)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("ldapmodify: %v\n%s\nLDIF:\n%s", err, out, ldif)
	}
}

// PeopleLDIF is a sample directory under Suffix: the service account
// cn=pochta,ou=services (password "service-secret"); OpenLDAP-style users
// kate (mail kate@, mailAlternateAddress k.smith@ and sales@, mailQuota
// 5000000), lena and bob (all @example.test, passwords "<name>-pw");
// the group cn=mail,ou=groups with kate and lena as members (bob is
// not); and Active Directory-shaped users ann (proxyAddresses SMTP:ann@,
// smtp:a.lee@, userAccountControl 512) and dave (disabled:
// userAccountControl 514), both memberOf the group.
//
//go:embed testdata/people.ldif
var PeopleLDIF string

// freePort returns a loopback address with a port free right now.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
