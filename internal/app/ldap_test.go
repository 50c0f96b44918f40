package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/directory/slapdtest"
	"pochta/internal/store"
)

// startLDAPApp runs the whole server with [auth] sources = internal, ldap
// against srv (slapdtest's sample directory), with a one-second cache,
// the domain example.test and one internal account, own@example.test
// (password "pw").
func startLDAPApp(t *testing.T, srv *slapdtest.Server, edit func(*config.LDAP)) *App {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "ldap.secret")
	if err := os.WriteFile(secret, []byte("service-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startAppWith(t, "own@example.test", func(cfg *config.Config) {
		cfg.Auth.FailureDelay = config.D(time.Millisecond)
		cfg.Auth.MaxFailureDelay = config.D(time.Millisecond)
		cfg.Auth.Sources = []string{"internal", "ldap"}
		cfg.Auth.LDAP = config.LDAP{
			URL:               srv.URL,
			BindDN:            "cn=pochta,ou=services,dc=example,dc=test",
			BindPasswordFile:  secret,
			BaseDN:            "ou=people,dc=example,dc=test",
			UserFilter:        "(&(objectClass=inetOrgPerson)(|(mail=%s)(mailAlternateAddress=%s)))",
			AddressAttributes: []string{"mail", "mailAlternateAddress"},
			GroupDN:           "cn=mail,ou=groups,dc=example,dc=test",
			QuotaAttribute:    "mailQuota",
			CacheSeconds:      1,
			Timeout:           config.D(2 * time.Second),
		}
		if edit != nil {
			edit(&cfg.Auth.LDAP)
		}
	})
}

// TestLDAPAccounts: directory users log in over IMAP, POP3 and SMTP AUTH
// and receive mail with no per-user setup; group membership and the
// entry's existence decide access within the cache time; an unreachable
// directory means temporary failures, never bounces.
func TestLDAPAccounts(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.PeopleLDIF)
	a := startLDAPApp(t, srv, nil)
	ctx := context.Background()
	cache := 1100 * time.Millisecond // past cache_seconds = 1

	// Logins with the directory password, by any of the user's addresses.
	imapLogin(t, a, "k.smith@example.test", "kate-pw", "OK")
	imapLogin(t, a, "kate@example.test", "wrong", "NO [AUTHENTICATIONFAILED]")
	imapLogin(t, a, "own@example.test", "pw", "OK") // the internal source still answers
	pop3Login(t, a, "kate@example.test", "kate-pw", "+OK")
	pop3Login(t, a, "kate@example.test", "wrong", "-ERR [AUTH]")
	smtpLogin(t, a, "sales@example.test", "kate-pw", 235)
	smtpLogin(t, a, "kate@example.test", "wrong", 535)
	smtpLogin(t, a, "bob@example.test", "bob-pw", 535) // not in the group

	// A filter full of metacharacters finds nobody.
	imapLogin(t, a, "*)(uid=*", "kate-pw", "NO [AUTHENTICATIONFAILED]")
	imapLogin(t, a, "*", "kate-pw", "NO [AUTHENTICATIONFAILED]")

	// Mail to the alternate addresses lands in the one mailbox, named by
	// the first address; lena, never logged in, gets an account on her
	// first mail.
	for _, rcpt := range []string{"kate@example.test", "k.smith@example.test", "Sales@Example.test", "lena@example.test"} {
		if code := sendTo(t, a, rcpt); code != 250 {
			t.Errorf("mail to %s: %d, want 250", rcpt, code)
		}
	}
	if code := rcptCode(t, a, "bob@example.test"); code != 550 {
		t.Errorf("RCPT to bob (not in the group): %d, want 550", code)
	}
	if code := rcptCode(t, a, "nobody@example.test"); code != 550 {
		t.Errorf("RCPT to an unknown user: %d, want 550", code)
	}
	kate := inboxCount(t, a, "kate@example.test", 3)
	if kate.QuotaBytes != 5000000 {
		t.Errorf("kate's quota = %d, want the directory's 5000000", kate.QuotaBytes)
	}
	inboxCount(t, a, "lena@example.test", 1)
	for _, addr := range []string{"k.smith@example.test", "sales@example.test"} {
		if _, err := a.Store.GetAccount(ctx, addr); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an account was made for the alternate address %s: %v", addr, err)
		}
	}
	if src, err := a.Store.AccountSource(ctx, "kate@example.test"); err != nil || src != "ldap" {
		t.Errorf("kate's account source = %q, %v; want ldap", src, err)
	}

	// The directory is down: unknown answers are temporary failures;
	// known users keep receiving from the cache; logins fail cleanly.
	srv.Stop()
	time.Sleep(cache)
	if code := rcptCode(t, a, "newbie@example.test"); code != 451 {
		t.Errorf("directory down, RCPT to an uncached address: %d, want 451", code)
	}
	if code := sendTo(t, a, "kate@example.test"); code != 250 {
		t.Errorf("directory down, mail to a known user: %d, want 250 (from the cache)", code)
	}
	imapLogin(t, a, "kate@example.test", "kate-pw", "NO [UNAVAILABLE]")
	pop3Login(t, a, "kate@example.test", "kate-pw", "-ERR [SYS/TEMP]")
	smtpLogin(t, a, "kate@example.test", "kate-pw", 454)
	imapLogin(t, a, "own@example.test", "pw", "OK")
	srv.Restart()
	if code := rcptCode(t, a, "newbie@example.test"); code != 550 {
		t.Errorf("directory back, RCPT to an unknown user: %d, want 550", code)
	}
	imapLogin(t, a, "kate@example.test", "kate-pw", "OK")

	// A password changed in the directory applies at once: directory
	// logins are never answered from a cache.
	srv.Modify("dn: uid=kate,ou=people,dc=example,dc=test\nchangetype: modify\nreplace: userPassword\nuserPassword: new-pw\n")
	imapLogin(t, a, "kate@example.test", "kate-pw", "NO [AUTHENTICATIONFAILED]")
	smtpLogin(t, a, "kate@example.test", "new-pw", 235)

	// Out of the group, or out of the directory: no mail, no login once
	// the cache has expired.
	srv.Modify("dn: cn=mail,ou=groups,dc=example,dc=test\nchangetype: modify\ndelete: member\nmember: uid=kate,ou=people,dc=example,dc=test\n")
	srv.Modify("dn: uid=lena,ou=people,dc=example,dc=test\nchangetype: delete\n")
	time.Sleep(cache)
	for _, rcpt := range []string{"kate@example.test", "k.smith@example.test", "lena@example.test"} {
		if code := rcptCode(t, a, rcpt); code != 550 {
			t.Errorf("RCPT to %s after removal: %d, want 550", rcpt, code)
		}
	}
	imapLogin(t, a, "kate@example.test", "new-pw", "NO [AUTHENTICATIONFAILED]")
	imapLogin(t, a, "lena@example.test", "lena-pw", "NO [AUTHENTICATIONFAILED]")
	pop3Login(t, a, "lena@example.test", "lena-pw", "-ERR [AUTH]")
}

// TestLDAPActiveDirectory: an AD-shaped directory (userPrincipalName,
// proxyAddresses, userAccountControl, memberOf) with AD's filter.
func TestLDAPActiveDirectory(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.PeopleLDIF)
	a := startLDAPApp(t, srv, func(l *config.LDAP) {
		l.UserFilter = "(&(objectClass=pochtaUser)(|(userPrincipalName=%s)(proxyAddresses=smtp:%s)))"
		l.AddressAttributes = []string{"proxyAddresses"}
		l.QuotaAttribute = ""
	})
	imapLogin(t, a, "ann@corp.example.test", "ann-pw", "OK") // the UPN
	smtpLogin(t, a, "a.lee@example.test", "ann-pw", 235)
	if code := sendTo(t, a, "a.lee@example.test"); code != 250 {
		t.Errorf("mail to a.lee (smtp: proxy address): %d, want 250", code)
	}
	inboxCount(t, a, "ann@example.test", 1) // named by the SMTP: primary
	imapLogin(t, a, "dave@example.test", "dave-pw", "NO [AUTHENTICATIONFAILED]")
	// With a catch-all, unknown addresses reach it, but a disabled user's
	// mail is refused, not passed on.
	if err := a.Store.SetCatchAll(context.Background(), "example.test", "own@example.test"); err != nil {
		t.Fatal(err)
	}
	if code := rcptCode(t, a, "dave@example.test"); code != 550 {
		t.Errorf("RCPT to a disabled AD account: %d, want 550", code)
	}
	if code := rcptCode(t, a, "nobody@example.test"); code != 250 {
		t.Errorf("RCPT to an unknown address with a catch-all: %d, want 250", code)
	}
}

// imapLogin logs in with go-imap's client and checks the tagged answer's
// start ("OK", "NO [AUTHENTICATIONFAILED]", ...).
func imapLogin(t *testing.T, a *App, user, pass, want string) {
	t.Helper()
	if want == "OK" {
		c, err := imapclient.DialInsecure(a.Addrs()["imap"][0], nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(user, pass).Wait(); err != nil {
			t.Errorf("IMAP LOGIN %s: %v", user, err)
			return
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Errorf("IMAP SELECT INBOX as %s: %v", user, err)
		}
		return
	}
	conn, r := dialText(t, a, "imap")
	fmt.Fprintf(conn, "a LOGIN %q %q\r\n", user, pass)
	for {
		line, err := r.ReadLine()
		if err != nil {
			t.Fatalf("IMAP LOGIN %s: %v", user, err)
		}
		if rest, ok := strings.CutPrefix(line, "a "); ok {
			if !strings.HasPrefix(rest, want) {
				t.Errorf("IMAP LOGIN %s: %q, want %s", user, line, want)
			}
			return
		}
	}
}

func pop3Login(t *testing.T, a *App, user, pass, want string) {
	t.Helper()
	conn, r := dialText(t, a, "pop3")
	fmt.Fprintf(conn, "USER %s\r\n", user)
	if line, _ := r.ReadLine(); !strings.HasPrefix(line, "+OK") {
		t.Fatalf("POP3 USER: %q", line)
	}
	fmt.Fprintf(conn, "PASS %s\r\n", pass)
	if line, _ := r.ReadLine(); !strings.HasPrefix(line, want) {
		t.Errorf("POP3 PASS as %s: %q, want %s", user, line, want)
	}
}

// dialText connects to a line-based service and reads its greeting.
func dialText(t *testing.T, a *App, service string) (net.Conn, *textproto.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", a.Addrs()[service][0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := textproto.NewReader(bufio.NewReader(conn))
	if _, err := r.ReadLine(); err != nil {
		t.Fatal(err)
	}
	return conn, r
}

// smtpLogin tries AUTH PLAIN on the submission port (plaintext allowed on
// loopback) and checks the reply code.
func smtpLogin(t *testing.T, a *App, user, pass string, want int) {
	t.Helper()
	c, err := smtp.Dial(a.Addrs()["submission"][0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.test"); err != nil {
		t.Fatal(err)
	}
	code := 235
	if err := c.Auth(smtp.PlainAuth("", user, pass, "127.0.0.1")); err != nil {
		var te *textproto.Error
		if !errors.As(err, &te) {
			t.Fatalf("SMTP AUTH %s: %v", user, err)
		}
		code = te.Code
	}
	if code != want {
		t.Errorf("SMTP AUTH %s: %d, want %d", user, code, want)
	}
}

// rcptCode opens an inbound SMTP transaction and returns RCPT's code.
func rcptCode(t *testing.T, a *App, rcpt string) int {
	t.Helper()
	c := inbound(t, a)
	defer c.Close()
	return rcptOn(t, c, rcpt)
}

// sendTo sends a short message over inbound SMTP; it returns RCPT's code
// when that refuses, else the code after the data.
func sendTo(t *testing.T, a *App, rcpt string) int {
	t.Helper()
	c := inbound(t, a)
	defer c.Close()
	if code := rcptOn(t, c, rcpt); code != 250 {
		return code
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "From: <x@remote.test>\r\nTo: <%s>\r\nSubject: hi\r\n\r\nhello\r\n", rcpt)
	if err := w.Close(); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			return te.Code
		}
		t.Fatal(err)
	}
	return 250
}

func inbound(t *testing.T, a *App) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(a.Addrs()["smtp"][0])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("remote.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("x@remote.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

func rcptOn(t *testing.T, c *smtp.Client, rcpt string) int {
	t.Helper()
	err := c.Rcpt(rcpt)
	if err == nil {
		return 250
	}
	var te *textproto.Error
	if !errors.As(err, &te) {
		t.Fatalf("RCPT %s: %v", rcpt, err)
	}
	return te.Code
}

// inboxCount checks that the account exists and its INBOX holds n
// messages.
func inboxCount(t *testing.T, a *App, addr string, n uint32) store.Account {
	t.Helper()
	ctx := context.Background()
	acct, err := a.Store.GetAccount(ctx, addr)
	if err != nil {
		t.Fatalf("account %s: %v", addr, err)
	}
	mbs, err := a.Store.ListMailboxes(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range mbs {
		if mb.Name != "INBOX" {
			continue
		}
		st, err := a.Store.Status(ctx, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Messages != n {
			t.Errorf("%s's INBOX has %d messages, want %d", addr, st.Messages, n)
		}
	}
	return acct
}

// TestLDAPAppPasswords: a directory user's app passwords work like an
// internal account's (limited to their protocols, refused once removed),
// only while the directory lets the user use mail; an account set to take
// only app passwords refuses the directory password.
func TestLDAPAppPasswords(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.PeopleLDIF)
	a := startLDAPApp(t, srv, nil)
	ctx := context.Background()

	imapLogin(t, a, "kate@example.test", "kate-pw", "OK") // provisions the account
	acct, err := a.Store.GetAccount(ctx, "k.smith@example.test")
	if err != nil {
		acct, err = a.Store.GetAccount(ctx, "kate@example.test")
	}
	if err != nil {
		t.Fatalf("the directory user's account: %v", err)
	}
	add := func(name string, protocols ...string) string {
		secret := auth.GenerateAppPassword()
		if _, err := a.Store.AddAppPassword(ctx, store.AppPassword{AccountID: acct.ID, Name: name, Hash: auth.AppPasswordHash(secret), Protocols: protocols}); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	phone, mailer := add("phone"), add("mailer", auth.ProtoSMTP)

	// By any of the user's addresses; limited to its protocols.
	imapLogin(t, a, "kate@example.test", phone, "OK")
	imapLogin(t, a, "sales@example.test", phone, "OK")
	pop3Login(t, a, "kate@example.test", phone, "+OK")
	smtpLogin(t, a, "kate@example.test", mailer, 235)
	imapLogin(t, a, "kate@example.test", mailer, "NO [AUTHENTICATIONFAILED]")
	// Another directory user cannot use kate's app password.
	imapLogin(t, a, "bob@example.test", phone, "NO [AUTHENTICATIONFAILED]")

	// App passwords only: the directory password is refused, the app password works.
	if err := a.Store.SetMainPasswordRefused(ctx, acct.ID, true); err != nil {
		t.Fatal(err)
	}
	imapLogin(t, a, "kate@example.test", "kate-pw", "NO [AUTHENTICATIONFAILED]")
	smtpLogin(t, a, "kate@example.test", "kate-pw", 535)
	imapLogin(t, a, "kate@example.test", phone, "OK")

	// Removed: refused.
	if err := a.Store.RemoveAppPassword(ctx, acct.ID, "phone"); err != nil {
		t.Fatal(err)
	}
	imapLogin(t, a, "kate@example.test", phone, "NO [AUTHENTICATIONFAILED]")
}
