package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"pochta/internal/pgtest"
)

// TestStoreMigrateIMAPView: a SQLite node's store, with two accounts,
// folders, flags, keywords, an expunged message and a Sieve script, is
// moved with `pochta store migrate` to PostgreSQL and from there to a
// fresh SQLite data folder; an IMAP client sees the same UIDVALIDITY,
// UIDNEXT, UIDs, flags, dates and contents on all three servers, and the
// Sieve script is still active.
func TestStoreMigrateIMAPView(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	a := newInstance(t, instanceOptions{})
	a.addUser("kate@example.test", "kate-password-1")
	a.addUser("leo@example.test", "leo-password-1")
	a.run("require \"fileinto\";\nfileinto \"Work\";\n", "sieve set", "leo@example.test", "-")
	a.start()
	date := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, u := range []string{"kate", "leo"} {
		c := migrateLogin(t, a, u)
		if err := c.Create("Work/2026", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		for i, box := range []string{"INBOX", "INBOX", "Work/2026", "INBOX"} {
			body := fmt.Sprintf("Subject: %s %d\r\n\r\nbody %d\r\n", u, i, i)
			ap := c.Append(box, int64(len(body)), &imap.AppendOptions{Flags: []imap.Flag{imap.Flag(fmt.Sprintf("$Label%d", i))}, Time: date.Add(time.Duration(i) * time.Hour)})
			ap.Write([]byte(body))
			ap.Close()
			if _, err := ap.Wait(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		uids := imap.UIDSetNum(2)
		if err := c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, imap.FlagAnswered}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		c.Logout().Wait()
	}
	before := map[string]string{"kate": imapUIDView(t, a, "kate"), "leo": imapUIDView(t, a, "leo")}
	// UID 2 was expunged: INBOX holds UIDs 1 and 3, UIDNEXT is 4.
	if !strings.Contains(before["kate"], "INBOX uidvalidity=") || !strings.Contains(before["kate"], "uidnext=4 messages=2\n  1 [$Label0 \\Answered \\Seen") {
		t.Fatalf("kate's view before migrating:\n%s", before["kate"])
	}
	a.stop()

	out := a.run("", "store migrate", "--to", url)
	if !strings.Contains(out, "copied and verified: 1 domains, 2 accounts") {
		t.Fatalf("migrate to postgres: %s", out)
	}
	b := newInstance(t, instanceOptions{Extra: fmt.Sprintf("\n[store]\nbackend = \"postgres\"\npostgres_url = %q\n", url)})
	c := newInstance(t, instanceOptions{})
	b.run("", "store migrate", "--to", "sqlite:"+filepath.Join(c.dir, "data"))
	for _, in := range []*instance{b, c} {
		in.start()
		for u, want := range before {
			if got := imapUIDView(t, in, u); got != want {
				t.Fatalf("%s's view after migrating:\n%s\nbefore:\n%s", u, got, want)
			}
		}
		if got := in.run("", "sieve list", "leo@example.test"); !strings.Contains(got, "\tactive") {
			t.Fatalf("sieve list after migrating: %q", got)
		}
		in.stop()
	}
}

func migrateLogin(t *testing.T, in *instance, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(in.addr["imap"], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user+"@example.test", user+"-password-1").Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// imapUIDView is what an IMAP client caches: per folder UIDVALIDITY and
// UIDNEXT, per message UID, flags, internal date and content.
func imapUIDView(t *testing.T, in *instance, user string) string {
	t.Helper()
	c := migrateLogin(t, in, user)
	defer func() { c.Logout().Wait() }()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("LIST: %v", err)
	}
	var b strings.Builder
	for _, l := range list {
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("EXAMINE %s: %v", l.Mailbox, err)
		}
		fmt.Fprintf(&b, "%s uidvalidity=%d uidnext=%d messages=%d\n", l.Mailbox, sel.UIDValidity, sel.UIDNext, sel.NumMessages)
		if sel.NumMessages == 0 {
			continue
		}
		msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		}).Collect()
		if err != nil {
			t.Fatalf("FETCH in %s: %v", l.Mailbox, err)
		}
		for _, m := range msgs {
			var body string
			if len(m.BodySection) == 1 {
				body = string(m.BodySection[0].Bytes)
			}
			fmt.Fprintf(&b, "  %d %v %s %q\n", m.UID, m.Flags, m.InternalDate.UTC().Format(time.RFC3339), body)
		}
	}
	return b.String()
}
