package e2e

import (
	"crypto/tls"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TestAppPasswords: app passwords made with the CLI log in over IMAP
// (go-imap's client, Python's imaplib), POP3 (poplib) and SMTP submission
// (go-smtp's client) on the
// protocols they are limited to, not on others, not after they are
// removed; an account set to refuse its main password takes only them.
func TestAppPasswords(t *testing.T) {
	in := newInstance(t, instanceOptions{})
	in.addUser("kate@example.test", "kate-main-pw")
	secret := regexp.MustCompile(`: ([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})\n`)
	add := func(name string, args ...string) string {
		t.Helper()
		out := in.run("", "user app-password add", append([]string{"kate@example.test", name}, args...)...)
		m := secret.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no app password in %q", out)
		}
		return m[1]
	}
	phone := add("phone", "--protocols", "imap")
	laptop := add("laptop")
	if out, err := in.tryRun("", "user app-password add", "kate@example.test", "tablet", "--protocols", "imap,gopher"); err == nil || !strings.Contains(out, "gopher") {
		t.Fatalf("unknown protocol accepted: %v %s", err, out)
	}
	list := in.run("", "user app-password list", "kate@example.test")
	if !strings.Contains(list, "laptop\tall protocols") || !strings.Contains(list, "phone\timap") ||
		strings.Contains(list, phone) || strings.Contains(list, laptop) || strings.Contains(list, "tablet") {
		t.Fatalf("list:\n%s", list)
	}
	in.start()

	imapLogin := func(pass string, want bool) {
		t.Helper()
		c, err := imapclient.DialStartTLS(in.addr["imap"], &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Login("kate@example.test", pass).Wait()
		if (err == nil) != want {
			t.Fatalf("IMAP login with %q: %v, want success %v", pass, err, want)
		}
	}
	smtpLogin := func(pass string, want bool) {
		t.Helper()
		c, err := smtp.DialStartTLS(in.addr["submission"], &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Auth(sasl.NewPlainClient("", "kate@example.test", pass))
		if (err == nil) != want {
			t.Fatalf("SMTP AUTH with %q: %v, want success %v", pass, err, want)
		}
		if err != nil {
			return
		}
		msg := "From: kate@example.test\r\nTo: kate@example.test\r\nSubject: sent with an app password\r\n\r\nhi\r\n"
		if err := c.SendMail("kate@example.test", []string{"kate@example.test"}, strings.NewReader(msg)); err != nil {
			t.Fatalf("sending after AUTH with an app password: %v", err)
		}
	}

	imapLogin(phone, true)
	imapLogin(strings.ToUpper(phone), true) // as typed from a printout
	imapLogin(laptop, true)
	smtpLogin(laptop, true)
	smtpLogin(phone, false) // limited to IMAP
	imapLogin("kate-main-pw", true)
	waitMailbox(t, in, "kate@example.test", laptop, "INBOX", "Subject: sent with an app password")
	ph, pp := hostPort(t, in.addr["pop3"])
	if got := python(t, "pop3_fetch.py", ph, pp, "kate@example.test", laptop); !strings.Contains(got, "Subject: sent with an app password") {
		t.Fatalf("POP3 with an app password:\n%s", got)
	}

	in.run("", "user app-password remove", "kate@example.test", "laptop")
	imapLogin(laptop, false)
	smtpLogin(laptop, false)
	if out, err := in.tryRun("", "user app-password remove", "kate@example.test", "laptop"); err == nil {
		t.Fatalf("removed twice: %s", out)
	}

	in.run("", "user main-password refuse", "kate@example.test")
	imapLogin("kate-main-pw", false)
	smtpLogin("kate-main-pw", false)
	imapLogin(phone, true)
	in.run("", "user main-password allow", "kate@example.test")
	imapLogin("kate-main-pw", true)
	smtpLogin("kate-main-pw", true)
}
