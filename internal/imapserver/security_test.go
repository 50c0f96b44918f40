package imapserver

import (
	"bufio"
	"compress/flate"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestMailboxIsolationAndNames(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliverTo(e.other, "", testMessage(1, "bob's secret"))
	e.deliverTo(e.other, "Private", testMessage(2, "bob's private"))
	c := e.login()
	lines := c.ok("SELECT INBOX")
	mustHave(t, lines, "* 0 EXISTS")
	mustNotHave(t, c.ok("SEARCH TEXT secret"), "SEARCH 1")
	c.expect("SELECT Private", "NO [NONEXISTENT]")
	lines = c.ok(`LIST "" *`)
	mustNotHave(t, lines, "Private")
	for _, bad := range []string{`"../x"`, `"/etc"`, `"a//b"`, `"Work/.."`, `"&Jjo"`, `"` + strings.Repeat("x", 1001) + `"`, "{3}\r\na\x01b", "{2}\r\n\xff\xfe"} {
		if strings.HasPrefix(bad, "{") {
			// send as a literal to carry control characters
			c.next++
			tag := "L" + string(rune('a'+c.next%26))
			parts := strings.SplitN(bad, "\r\n", 2)
			c.send(tag + " CREATE " + parts[0] + "\r\n")
			if l := c.line(); !strings.HasPrefix(l, "+") {
				t.Fatalf("continuation: %q", l)
			}
			c.send(parts[1] + "\r\n")
			_, st := c.until(tag)
			if !strings.HasPrefix(st, "NO [CANNOT]") {
				t.Fatalf("CREATE %q: %q", bad, st)
			}
			continue
		}
		c.expect("CREATE "+bad, "NO [CANNOT]")
		c.expect("SELECT "+bad, "NO [CANNOT]")
		c.expect("APPEND "+bad+" {1+}\r\nx", "NO [CANNOT]")
	}
	// A rev1 client names non-ASCII mailboxes in modified UTF-7.
	c.ok("CREATE Entw&APw-rfe")
	lines = c.ok(`LIST "" Entw*`)
	mustHave(t, lines, `"Entw&APw-rfe"`)
	c.ok("ENABLE UTF8=ACCEPT")
	lines = c.ok(`LIST "" Entw*`)
	mustHave(t, lines, `"Entwürfe"`)
}

func TestLimits(t *testing.T) {
	e := newEnv(t, envOptions{literal: 1000, maxErrors: 5})
	c := e.login()
	lines := c.ok("CAPABILITY")
	mustHave(t, lines, "APPENDLIMIT=1000")
	// A synchronising literal over the limit is refused before it is sent.
	c.send("A1 APPEND INBOX {5000}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "A1 NO [TOOBIG]") {
		t.Fatalf("got %q", l)
	}
	c.ok("NOOP")
	// Non-APPEND literals are small.
	c.send("A2 LOGIN {70000}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "A2 BAD") {
		t.Fatalf("got %q", l)
	}
	// Too many errors end the connection.
	bye := false
	for i := 0; i < 10 && !bye; i++ {
		c.send("X FROB\r\n")
		if l := c.line(); !strings.HasPrefix(l, "X BAD") {
			t.Fatalf("got %q", l)
		}
		c.c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if l, err := c.r.ReadString('\n'); err == nil {
			bye = strings.HasPrefix(l, "* BYE")
		}
	}
	if !bye {
		t.Fatal("no BYE after many errors")
	}
	// A non-synchronising literal over the limit closes the connection.
	d := e.login()
	d.send("B1 APPEND INBOX {5000+}\r\n")
	if l := d.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("got %q", l)
	}
}

func TestQuotaOverQuota(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctxSetQuota(t, e, 2048)
	c := e.login()
	lines := c.ok("GETQUOTAROOT INBOX")
	mustHave(t, lines, `* QUOTAROOT "INBOX" ""`, `* QUOTA "" (STORAGE 0 2)`)
	mustHave(t, c.ok(`GETQUOTA ""`), `* QUOTA "" (STORAGE`)
	big := strings.Repeat("x", 3000)
	c.expect("APPEND INBOX {"+itoa(len(big))+"+}\r\n"+big, "NO [OVERQUOTA]")
	c.ok("APPEND INBOX {5+}\r\nhello")
}

func TestPlaintextRefusedWithoutTLS(t *testing.T) {
	e := newEnv(t, envOptions{noPlaintext: true})
	c := e.dial()
	lines := c.ok("CAPABILITY")
	mustHave(t, lines, "LOGINDISABLED", "STARTTLS")
	mustNotHave(t, lines, "AUTH=PLAIN")
	c.expect(`LOGIN alice@example.org "`+testPassword+`"`, "NO [PRIVACYREQUIRED]")
	c.expect("AUTHENTICATE PLAIN "+plainIR("alice@example.org", testPassword), "NO [PRIVACYREQUIRED]")
	c.ok("STARTTLS")
	tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.c, c.r = tc, bufio.NewReader(tc)
	lines = c.ok("CAPABILITY")
	mustHave(t, lines, "AUTH=PLAIN")
	mustNotHave(t, lines, "STARTTLS", "LOGINDISABLED")
	c.ok(`LOGIN alice@example.org "` + testPassword + `"`)
}

func plainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func TestAuthenticatePlain(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dial()
	c.expect("AUTHENTICATE PLAIN "+plainIR("alice@example.org", "nope"), "NO [AUTHENTICATIONFAILED]")
	c.expect("AUTHENTICATE CRAM-MD5", "NO")
	c.send("A1 AUTHENTICATE PLAIN\r\n")
	if l := c.line(); l != "+ " && l != "+" {
		t.Fatalf("got %q", l)
	}
	c.send(plainIR("alice@example.org", testPassword) + "\r\n")
	if _, st := c.until("A1"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("got %q", st)
	}
	c.ok("SELECT INBOX")
	d := e.dial()
	d.ok("AUTHENTICATE PLAIN " + plainIR("alice@example.org", testPassword))
}

func TestCompressDeflate(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver("", testMessage(1, "compressed"))
	c := e.login()
	c.ok("COMPRESS DEFLATE")
	fw, _ := flate.NewWriter(c.c, 5)
	c.r = bufio.NewReader(flate.NewReader(c.c))
	c.c = &flateConn{Conn: c.c, w: fw}
	lines := c.ok("SELECT INBOX")
	mustHave(t, lines, "* 1 EXISTS")
	lines = c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
	mustHave(t, lines, "Subject: compressed")
	c.expect("COMPRESS DEFLATE", "NO [COMPRESSIONACTIVE]")
}
