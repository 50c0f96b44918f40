package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pochta/internal/pgtest"
	"pochta/internal/store"
	"pochta/internal/store/postgres"
	"pochta/internal/store/sqlite"
)

// TestStoreMigrate moves a SQLite store to PostgreSQL and back with
// "pochta store migrate"; what an IMAP client sees (UIDVALIDITY, UIDNEXT,
// UIDs, flags, modseqs per folder) and the accounts' secrets are the same
// at every step, and a non-empty target is refused.
func TestStoreMigrate(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	defer srv.Stop()
	dir := t.TempDir()
	dataA, dataC := filepath.Join(dir, "a"), filepath.Join(dir, "c")
	url := srv.NewDatabase(t)
	cfgA, cfgB := filepath.Join(dir, "a.toml"), filepath.Join(dir, "b.toml")
	os.WriteFile(cfgA, []byte("hostname = \"mx.example.test\"\ndata_dir = \""+dataA+"\"\n"), 0o600)
	os.WriteFile(cfgB, []byte("hostname = \"mx.example.test\"\ndata_dir = \""+filepath.Join(dir, "b")+"\"\n[store]\nbackend = \"postgres\"\npostgres_url = \""+url+"\"\n"), 0o600)

	a, err := sqlite.Open(ctx, filepath.Join(dataA, "store"))
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, a)
	before := imapView(t, a)
	a.Close()

	out, err := pochta(t, cfgA, "", "store", "migrate", "--to", url)
	if err != nil {
		t.Fatalf("migrate to postgres: %v", err)
	}
	if !strings.Contains(out, "copied and verified: 2 domains, 3 accounts, 1 aliases, 20 mailboxes, 5 messages (112 bytes), 2 Sieve scripts") {
		t.Fatalf("summary: %q", out)
	}
	if _, err := pochta(t, cfgA, "", "store", "migrate", "--to", url); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("second migrate into the same database: %v", err)
	}
	if _, err := pochta(t, cfgB, "", "store", "migrate", "--to", "sqlite:"+dataC); err != nil {
		t.Fatalf("migrate back to sqlite: %v", err)
	}
	pg, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	c, err := sqlite.Open(ctx, filepath.Join(dataC, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, st := range map[string]store.Backend{"postgres": pg, "sqlite again": c} {
		if got := imapView(t, st); got != before {
			t.Fatalf("%s: IMAP view differs:\n got %s\nwant %s", name, got, before)
		}
		leo, err := st.GetAccount(ctx, "leo@example.test")
		if err != nil || leo.PasswordHash != "$argon2id$leo" || leo.QuotaBytes != 1<<20 {
			t.Fatalf("%s: leo = %+v, %v", name, leo, err)
		}
		if _, keys, err := st.SCRAMKeys(ctx, leo.Address); err != nil || keys != "scram-keys-of-leo" {
			t.Fatalf("%s: SCRAM keys %q, %v", name, keys, err)
		}
		if f, err := st.AccountFlags(ctx, leo.ID); err != nil || f != (store.AccountFlags{Admin: true, Disabled: true}) {
			t.Fatalf("%s: leo's flags = %+v, %v", name, f, err)
		}
		if sc, err := st.ActiveSieveScript(ctx, leo.ID); err != nil || sc.Name != "main" {
			t.Fatalf("%s: active sieve script %+v, %v", name, sc, err)
		}
		if src, err := st.AccountSource(ctx, "ann@other.test"); err != nil || src != "ldap" {
			t.Fatalf("%s: ann's source %q, %v", name, src, err)
		}
	}
}

// fillStore makes two domains (one with a catch-all), three accounts, an
// alias, folders, and messages with flags, keywords, a UID gap and
// modseqs that differ from their order of arrival.
func fillStore(t *testing.T, s store.Backend) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.AddDomain(ctx, "example.test"))
	must(s.AddDomain(ctx, "other.test"))
	kate, err := s.AddAccount(ctx, "kate@example.test", "$argon2id$kate")
	must(err)
	leo, err := s.AddAccount(ctx, "leo@example.test", "$argon2id$leo")
	must(err)
	_, err = s.AddSourcedAccount(ctx, "ann@other.test", "ldap")
	must(err)
	must(s.SetCatchAll(ctx, "example.test", "kate@example.test"))
	must(s.AddAlias(ctx, "team@example.test", []string{"kate@example.test", "leo@example.test"}))
	must(s.SetQuota(ctx, "leo@example.test", 1<<20))
	must(s.SetSCRAMKeys(ctx, "leo@example.test", "$argon2id$leo", "scram-keys-of-leo"))
	must(s.SetMainPasswordRefused(ctx, leo.ID, true))
	must(s.SetAccountFlags(ctx, leo.ID, store.AccountFlags{Admin: true, Disabled: true}))
	_, err = s.AddAppPassword(ctx, store.AppPassword{AccountID: leo.ID, Name: "phone", Hash: "abc123", Protocols: []string{"imap"}})
	must(err)
	must(s.PutSieveScript(ctx, leo.ID, "main", "keep;\n"))
	must(s.PutSieveScript(ctx, leo.ID, "old", "discard;\n"))
	must(s.ActivateSieveScript(ctx, leo.ID, "main"))
	work, err := s.CreateMailbox(ctx, kate.ID, "Work/2026", "")
	must(err)
	must(s.SetSubscribed(ctx, kate.ID, "Work/2026", true))
	must(s.SetSubscribed(ctx, kate.ID, "Junk", false))
	inbox, err := s.GetMailbox(ctx, kate.ID, "INBOX")
	must(err)
	date := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i, fl := range [][]string{{`\Seen`}, {"$Important", `\Flagged`}, nil} {
		_, err := s.Append(ctx, inbox.ID, fl, date.Add(time.Duration(i)*time.Hour), strings.NewReader(fmt.Sprintf("Subject: m%d\r\n\r\nbody %d\r\n", i, i)))
		must(err)
	}
	_, err = s.Append(ctx, work.ID, []string{"$Label1"}, date, strings.NewReader("Subject: w\r\n\r\nwork\r\n"))
	must(err)
	_, _, err = s.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 2, Stop: 2}}, store.FlagsAdd, []string{`\Deleted`}, 0)
	must(err)
	_, err = s.Expunge(ctx, inbox.ID, nil)
	must(err)
	_, _, err = s.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}}, store.FlagsAdd, []string{`\Answered`}, 0)
	must(err)
	leoInbox, err := s.GetMailbox(ctx, leo.ID, "INBOX")
	must(err)
	_, err = s.Append(ctx, leoInbox.ID, nil, date, strings.NewReader("Subject: hi\r\n\r\nhello\r\n"))
	must(err)
	_, err = s.Append(ctx, leoInbox.ID, []string{`\Seen`}, date, strings.NewReader("Subject: hi 2\r\n\r\nhello\r\n"))
	must(err)
}

// imapView is what an IMAP client caches of every folder: its name and
// subscription, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, and per message the
// UID, flags, modseq and internal date; and what QRESYNC reports as
// vanished to a client one modseq behind.
func imapView(t *testing.T, s store.Backend) string {
	ctx := context.Background()
	var b strings.Builder
	accounts, err := s.ListAccounts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		mbs, err := s.ListMailboxes(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range mbs {
			fmt.Fprintf(&b, "\n%s %s sub=%v uidvalidity=%d uidnext=%d highestmodseq=%d:", a.Address, mb.Name, mb.Subscribed, mb.UIDValidity, mb.UIDNext, mb.HighestModSeq)
			err := s.Messages(ctx, mb.ID, nil, func(m store.Message) error {
				fmt.Fprintf(&b, " %d%v@%d/%s", m.UID, m.Flags, m.ModSeq, m.InternalDate.UTC().Format(time.RFC3339))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			_, vanished, err := s.Changes(ctx, mb.ID, mb.HighestModSeq-1)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, " vanished since highestmodseq-1: %v", vanished)
		}
	}
	return b.String()
}
