package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pochta/internal/dkim"
	"pochta/internal/envelope"
	"pochta/internal/pgtest"
	"pochta/internal/queue"
	"pochta/internal/reply"
	"pochta/internal/store"
	"pochta/internal/store/postgres"
	"pochta/internal/store/sqlite"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// TestStoreMigrate moves a SQLite store to PostgreSQL and back with
// "pochta store migrate"; what an IMAP client sees (UIDVALIDITY, UIDNEXT,
// UIDs, flags, modseqs per folder) and the accounts' secrets are the same
// at every step, and a non-empty target is refused. A DKIM key made with
// "pochta dkim keygen" and a queued message that has had a failed attempt
// go along: after the round trip the message (attempts and next attempt
// time kept) is delivered and mail is signed with the same key.
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
	record, err := pochta(t, cfgA, "", "dkim", "keygen", "example.test")
	if err != nil {
		t.Fatal(err)
	}
	queueBefore := queueOneFailure(t, filepath.Join(dataA, "queue"))

	out, err := pochta(t, cfgA, "", "store", "migrate", "--to", url)
	if err != nil {
		t.Fatalf("migrate to postgres: %v", err)
	}
	if !strings.Contains(out, "copied and verified: 2 domains, 3 accounts, 1 aliases, 20 mailboxes, 5 messages (112 bytes), 2 Sieve scripts, 1 server state values, 1 queued messages") {
		t.Fatalf("summary: %q", out)
	}
	if _, err := pochta(t, cfgA, "", "store", "migrate", "--to", url); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("second migrate into the same database: %v", err)
	}
	m, err := queue.OpenPostgresManager(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	inPG, err := m.List(ctx)
	m.Close()
	if err != nil || fmt.Sprint(inPG) != queueBefore {
		t.Fatalf("queue in postgres: %v %v\nwant %s", inPG, err, queueBefore)
	}
	if _, err := pochta(t, cfgB, "", "store", "migrate", "--to", "sqlite:"+dataC); err != nil {
		t.Fatalf("migrate back to sqlite: %v", err)
	}
	if back, err := queue.List(filepath.Join(dataC, "queue")); err != nil || fmt.Sprint(back) != queueBefore {
		t.Fatalf("queue back in sqlite's data_dir: %v %v\nwant %s", back, err, queueBefore)
	}
	deliverQueue(t, filepath.Join(dataC, "queue"))
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
		signer, err := dkim.LoadStateSigner(ctx, st)
		if err != nil || len(signer.Keys()) != 1 || !strings.HasPrefix(record, signer.Keys()[0].Record()) {
			t.Fatalf("%s: DKIM keys %v, %v; want the one of %q", name, signer.Keys(), err, record)
		}
		signed, err := signer.Sign("", []byte("From: leo@example.test\r\nTo: x@remote.test\r\nSubject: s\r\n\r\nbody\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(signed), &msgdkim.VerifyOptions{LookupTXT: func(string) ([]string, error) {
			_, v, _ := strings.Cut(record, " IN TXT ")
			v, _, _ = strings.Cut(v, "\n")
			return []string{strings.ReplaceAll(strings.ReplaceAll(v, `" "`, ""), `"`, "")}, nil
		}})
		if err != nil || len(vs) != 1 || vs[0].Err != nil {
			t.Fatalf("%s: signature with the migrated key: %v %+v", name, err, vs)
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

// remote is the queue's outbound side in the migration test: it refuses
// (451) or accepts, and reports what it accepted.
type remote struct {
	accept    bool
	delivered chan string
}

func (r *remote) Deliver(_ context.Context, _ string, env envelope.Envelope, rcpts []envelope.Recipient, _ []byte) []error {
	errs := make([]error, len(rcpts))
	for i, rc := range rcpts {
		if !r.accept {
			errs[i] = reply.New(451, "4.3.0", "try again later")
			continue
		}
		r.delivered <- env.From + " -> " + rc.Address
	}
	return errs
}

// noLocal: every domain is remote.
type noLocal struct{}

func (noLocal) IsLocalDomain(context.Context, string) (bool, error) { return false, nil }
func (noLocal) Deliver(_ context.Context, env envelope.Envelope, _ []byte) []error {
	return make([]error, len(env.Recipients))
}

// queueOneFailure queues a message in dir whose one delivery attempt is
// refused with 451, and returns the queue's listing.
func queueOneFailure(t *testing.T, dir string) string {
	t.Helper()
	r := &remote{delivered: make(chan string, 1)}
	q, err := queue.Open(queue.Options{Dir: dir, Hostname: "mx.example.test", Local: noLocal{}, Remote: r, FirstRetry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	env := envelope.Envelope{From: "leo@example.test", Recipients: []envelope.Recipient{{Address: "x@remote.test"}}, Received: time.Now()}
	if _, err := q.Enqueue(context.Background(), env, []byte("Subject: queued\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		items, err := queue.List(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 1 && items[0].Recipients[0].Attempts == 1 && !items[0].NextAttempt.IsZero() {
			break
		}
		if i == 100 {
			t.Fatalf("no failed attempt within 10s: %+v", items)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	items, err := queue.List(dir)
	if err != nil || len(items) != 1 {
		t.Fatalf("queue after shutdown: %v %v", items, err)
	}
	return fmt.Sprint(items)
}

// deliverQueue runs the queue in dir until its message is delivered.
func deliverQueue(t *testing.T, dir string) {
	t.Helper()
	r := &remote{accept: true, delivered: make(chan string, 1)}
	q, err := queue.Open(queue.Options{Dir: dir, Hostname: "mx.example.test", Local: noLocal{}, Remote: r, FirstRetry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	defer q.Shutdown(context.Background())
	select {
	case got := <-r.delivered:
		if got != "leo@example.test -> x@remote.test" {
			t.Fatalf("delivered %s", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the migrated message was not delivered within 30s")
	}
}
