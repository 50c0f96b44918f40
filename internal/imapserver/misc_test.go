package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// Shutdown tells idle clients BYE and returns once they are gone.
func TestShutdown(t *testing.T) {
	e := newEnv(t, envOptions{})
	a := e.login()
	b := e.login()
	b.ok("SELECT INBOX")
	b.send("I IDLE\r\n")
	b.line()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("shutdown too slow")
	}
	for _, c := range []*rawClient{a, b} {
		if l := c.line(); !strings.HasPrefix(l, "* BYE") {
			t.Fatalf("got %q", l)
		}
	}
}

func TestThreadAndListHierarchy(t *testing.T) {
	e := newEnv(t, envOptions{})
	msg := func(id, refs, subject, date string) string {
		h := "From: x@example.com\r\nSubject: " + subject + "\r\nDate: " + date + "\r\nMessage-ID: <" + id + ">\r\n"
		if refs != "" {
			h += "References: " + refs + "\r\nIn-Reply-To: " + refs[strings.LastIndex(refs, "<"):] + "\r\n"
		}
		return h + "\r\nbody\r\n"
	}
	e.deliver("", msg("a@x", "", "topic", "Mon, 2 Mar 2026 10:00:00 +0000"))
	e.deliver("", msg("b@x", "<a@x>", "Re: topic", "Mon, 2 Mar 2026 11:00:00 +0000"))
	e.deliver("", msg("c@x", "<a@x>", "Re: topic", "Mon, 2 Mar 2026 12:00:00 +0000"))
	e.deliver("", msg("d@x", "<a@x> <b@x>", "Re: topic", "Mon, 2 Mar 2026 13:00:00 +0000"))
	e.deliver("", msg("e@x", "", "other", "Sun, 1 Mar 2026 09:00:00 +0000"))
	c := e.login()
	c.ok("SELECT INBOX")
	mustHave(t, c.ok("THREAD REFERENCES UTF-8 ALL"), "* THREAD (5)(1 (2 4)(3))")
	mustHave(t, c.ok("THREAD ORDEREDSUBJECT UTF-8 ALL"), "* THREAD (5)(1 (2)(3)(4))")
	mustHave(t, c.ok("UID THREAD REFERENCES UTF-8 NOT 1"), "* THREAD (5)")
	mustHave(t, c.ok("SORT (DATE) UTF-8 ALL"), "* SORT 5 1 2 3 4")
	mustHave(t, c.ok("SORT (SUBJECT REVERSE DATE) UTF-8 ALL"), "* SORT 5 4 3 2 1")

	c.ok("CREATE a/b/c")
	lines := c.ok(`LIST "" %`)
	mustHave(t, lines, `* LIST (\HasChildren) "/" "a"`)
	c.ok("DELETE a")
	lines = c.ok(`LIST "" a*`)
	mustHave(t, lines, `* LIST (\Noselect \HasChildren) "/" "a"`, `"a/b/c"`)
	c.ok("ENABLE IMAP4rev2")
	lines = c.ok(`LIST "" a`)
	mustHave(t, lines, `* LIST (\NonExistent \HasChildren) "/" "a"`)
	c.ok("SUBSCRIBE a/b/c")
	lines = c.ok(`LIST (SUBSCRIBED RECURSIVEMATCH) "" %`)
	mustHave(t, lines, `"a" ("CHILDINFO" ("SUBSCRIBED"))`)
}

// Port 993 style: TLS from the first byte; plaintext LOGIN is then fine
// even when plaintext is otherwise refused.
func TestImplicitTLS(t *testing.T) {
	e := newEnv(t, envOptions{noPlaintext: true})
	srv := New(Options{Hostname: "mx.example.org", TLSConfig: e.tls, ImplicitTLS: true, Store: e.st,
		Auth: e.srv.opts.Auth, Limits: e.srv.opts.Limits})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())
	tc, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	c := &rawClient{t: t, c: tc, r: bufio.NewReader(tc)}
	if g := c.line(); !strings.Contains(g, "AUTH=PLAIN") || strings.Contains(g, "STARTTLS") {
		t.Fatalf("greeting %q", g)
	}
	c.ok(`LOGIN alice@example.org "` + testPassword + `"`)
	c.ok("SELECT INBOX")
}

// An unauthenticated connection that stays silent is dropped with BYE.
func TestUnauthenticatedTimeout(t *testing.T) {
	e := newEnv(t, envOptions{unauth: 200 * time.Millisecond})
	c := e.dial()
	if l := c.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("got %q", l)
	}
}
