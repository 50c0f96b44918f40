package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pochta/internal/store"
	"pochta/internal/store/storetest"
)

func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, t.TempDir())
	})
}

// checkConsistency verifies every maintained counter against the rows it
// summarises, and blob files against blob rows.
func checkConsistency(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	// A fresh connection: a pooled one may hold a stale FTS5 structure
	// cache that only quick_check (not queries) trips over.
	db, err := sql.Open("sqlite", filepath.Join(s.dir, "pochta.db"))
	if err != nil {
		t.Fatal(err)
	}
	err = quickCheck(ctx, db)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	queries := []struct{ what, q string }{
		{"mailbox counters", `SELECT count(*) FROM mailboxes mb WHERE
			n_messages != (SELECT count(*) FROM messages WHERE mailbox_id = mb.id) OR
			n_unseen != (SELECT count(*) FROM messages WHERE mailbox_id = mb.id AND seen = 0) OR
			n_deleted != (SELECT count(*) FROM messages WHERE mailbox_id = mb.id AND deleted = 1) OR
			size != (SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = mb.id) OR
			uidnext <= (SELECT coalesce(max(uid), 0) FROM messages WHERE mailbox_id = mb.id) OR
			highest_modseq < (SELECT coalesce(max(modseq), 0) FROM messages WHERE mailbox_id = mb.id)`},
		{"quota usage", `SELECT count(*) FROM accounts a WHERE used !=
			(SELECT coalesce(sum(m.size), 0) FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox_id WHERE mb.account_id = a.id)`},
		{"blob refs", `SELECT count(*) FROM blobs b WHERE refs != (SELECT count(*) FROM messages WHERE blob_id = b.id)`},
		{"dangling messages", `SELECT count(*) FROM messages WHERE blob_id NOT IN (SELECT id FROM blobs)`},
		// Every blob is in the search index or queued for it (indexer.go).
		{"index rows", `SELECT (SELECT count(*) FROM blobs) - (SELECT count(*) FROM search) - (SELECT count(*) FROM index_queue)`},
		{"index queue", `SELECT count(*) FROM index_queue WHERE blob_id IN (SELECT rowid FROM search) OR blob_id NOT IN (SELECT id FROM blobs)`},
	}
	for _, q := range queries {
		var n int
		if err := s.rdb.QueryRowContext(ctx, q.q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q.what, err)
		}
		if n != 0 {
			t.Fatalf("%s: %d inconsistent rows", q.what, n)
		}
	}
	ids := map[int64]bool{}
	rows, err := s.rdb.QueryContext(ctx, "SELECT id FROM blobs")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
		// Its content is a file or a blob_data row (inlineMax), not both.
		var inline int
		if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM blob_data WHERE id = ?", id).Scan(&inline); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(s.blobPath(id)); (err == nil) == (inline == 1) {
			t.Fatalf("blob %d: inline %d, file: %v", id, inline, err)
		}
	}
	rows.Close()
	var stray int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM blob_data WHERE id NOT IN (SELECT id FROM blobs)").Scan(&stray); err != nil || stray != 0 {
		t.Fatalf("%d blob_data rows without a blob, %v", stray, err)
	}
	files, err := filepath.Glob(filepath.Join(s.dir, "blobs", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		id, err := strconv.ParseInt(filepath.Base(f), 16, 64)
		if err != nil || !ids[id] {
			t.Fatalf("unreferenced blob file %s", f)
		}
	}
}

func setupAccount(t testing.TB, s *Store) store.Account {
	t.Helper()
	ctx := context.Background()
	if err := s.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.AddAccount(ctx, "bob@example.org", "hash")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testMsg(subject, body string) string {
	return "From: a@example.net\r\nTo: bob@example.org\r\nSubject: " + subject + "\r\n\r\n" + body + "\r\n"
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	if err := s.AddAlias(ctx, "info@example.org", []string{"bob@example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQuota(ctx, "bob@example.org", 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateMailbox(ctx, a.ID, "Work/Project", ""); err != nil {
		t.Fatal(err)
	}
	var ds []store.Delivered
	for i := 0; i < 5; i++ {
		d, err := s.Deliver(ctx, strings.NewReader(testMsg(fmt.Sprint("reopen", i), "findable text")), []store.Target{{AccountID: a.ID}, {AccountID: a.ID, Mailbox: "Work/Project", Flags: []string{`\Seen`}}})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d...)
	}
	inbox, _ := s.GetMailbox(ctx, a.ID, "INBOX")
	before, _ := s.Status(ctx, inbox.ID)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Deliver(ctx, strings.NewReader("x"), []store.Target{{AccountID: a.ID}}); err == nil {
		t.Fatal("Deliver after Close succeeded")
	}

	s = openTest(t, dir)
	defer s.Close()
	checkConsistency(t, s)
	if _, err := s.GetAlias(ctx, "info@example.org"); err != nil {
		t.Fatal(err)
	}
	used, limit, err := s.QuotaUsage(ctx, a.ID)
	if err != nil || limit != 1<<20 || used == 0 {
		t.Fatalf("quota after reopen: %d %d %v", used, limit, err)
	}
	after, err := s.Status(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("status changed across reopen:\n%+v\n%+v", before, after)
	}
	for i, d := range ds {
		r, err := s.Open(ctx, d.MailboxID, d.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if !strings.Contains(string(b), fmt.Sprint("reopen", i/2)) {
			t.Fatalf("message %+v content %q", d, b)
		}
	}
	got, err := s.Search(ctx, inbox.ID, store.SearchBody, "findable")
	if err != nil || len(got) != 5 {
		t.Fatalf("search after reopen: %v %v", got, err)
	}
	// New deliveries continue the UID sequence and do not collide with
	// existing blobs.
	d, err := s.Deliver(ctx, strings.NewReader(testMsg("new", "x")), []store.Target{{AccountID: a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if d[0].UID != 6 {
		t.Fatalf("UID after reopen = %d", d[0].UID)
	}
	checkConsistency(t, s)
}

func TestSchemaVersion(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	var v int
	if err := s.rdb.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != len(migrations) {
		t.Fatalf("user_version %d, want %d", v, len(migrations))
	}
	var mode string
	if err := s.rdb.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v", mode, err)
	}
	s.Close()
	// A database from a newer program is refused.
	db, err := sql.Open("sqlite", filepath.Join(dir, "pochta.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(context.Background(), dir); err == nil {
		s.Close()
		t.Fatal("Open accepted a newer schema")
	}
}

// TestMigrateRecent upgrades a version-1 database holding mail: the new
// \Recent watermark starts at UIDNEXT-1 (existing mail is not recent), and
// mail delivered afterwards is.
func TestMigrateRecent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	if err := s.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.AddAccount(ctx, "old@example.org", "$argon2id$x")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := s.Deliver(ctx, strings.NewReader("Subject: old\r\n\r\nx\r\n"), []store.Target{{AccountID: a.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// Turn the file back into a version-1 database.
	downgrade(t, dir, append(append(append(append(append(append(downgradeSieve[:2:2], downgradeTo6[:1]...), downgradeTo5[:1]...), downgradeTo4[:2]...), downgradeTo3[:1]...), downgradeTo2...), "ALTER TABLE mailboxes DROP COLUMN recent_uid", "PRAGMA user_version = 1"))
	s = openTest(t, dir)
	defer s.Close()
	inbox, err := s.GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx, inbox.ID)
	if err != nil || st.Recent != 0 || st.RecentWatermark != 2 {
		t.Fatalf("after migration: %+v %v", st, err)
	}
	// Migration 4 indexes the unseen messages that are already there.
	if u, err := s.FirstUnseen(ctx, inbox.ID); err != nil || u != 1 {
		t.Fatalf("FirstUnseen after migration: %d %v", u, err)
	}
	if _, err := s.Deliver(ctx, strings.NewReader("Subject: new\r\n\r\nx\r\n"), []store.Target{{AccountID: a.ID}}); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Status(ctx, inbox.ID); err != nil || st.Recent != 1 {
		t.Fatalf("after delivery: %+v %v", st, err)
	}
	if first, next, err := s.ClaimRecent(ctx, inbox.ID); err != nil || first != 3 || next != 4 {
		t.Fatalf("ClaimRecent = %d, %d, %v", first, next, err)
	}
	// Migration 19 made the account events' log again.
	if err := s.AddAccountEvent(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if accts, _, err := s.AccountEventsAfter(ctx, 0); err != nil || len(accts) != 1 || accts[0] != a.ID {
		t.Fatalf("AccountEventsAfter after migration: %v %v", accts, err)
	}
	checkConsistency(t, s)
}

// downgradeTo5 undoes migration 6: the SCRAM verifiers.
var downgradeTo5 = []string{"DROP TABLE scram_keys", "PRAGMA user_version = 5"}

// downgradeTo3 undoes migration 4: the index of unseen messages.
var downgradeTo3 = []string{"DROP INDEX messages_unseen", "PRAGMA user_version = 3"}

// downgradeTo2 undoes migration 3: subscriptions back into a column of
// mailboxes.
var downgradeTo2 = []string{
	"ALTER TABLE mailboxes ADD COLUMN subscribed INTEGER NOT NULL DEFAULT 0",
	"UPDATE mailboxes SET subscribed = EXISTS(SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name)",
	"DROP TABLE subscriptions",
	"PRAGMA user_version = 2",
}

// downgradeAccountEvents undoes the account events migration (19), except
// the schema version.
var downgradeAccountEvents = []string{"DROP TABLE account_events"}

// downgrade runs statements on the closed store's database file, after
// undoing the newest migration (downgradeEmails), which every downgrade
// passes through.
func downgrade(t *testing.T, dir string, stmts []string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "pochta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range append(append(downgradeAccountEvents[:1:1], downgradeEmails...), stmts...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
}

// TestMigrateSubscriptions upgrades a version-2 database, where a
// subscription was a column of its mailbox: exactly the subscribed
// mailboxes stay subscribed, and afterwards a name outlives its mailbox.
func TestMigrateSubscriptions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	if _, err := s.CreateMailbox(ctx, a.ID, "Work/Old", ""); err != nil {
		t.Fatal(err)
	}
	s.Close()
	stmts := append(append(append(append(append(append([]string{}, downgradeSieve[:2]...), downgradeTo6[:1]...), downgradeTo5[:1]...), downgradeTo4[:2]...), downgradeTo3[:1]...), downgradeTo2[:len(downgradeTo2)-1]...)
	downgrade(t, dir, append(stmts, "UPDATE mailboxes SET subscribed = (name IN ('INBOX', 'Work/Old'))", "PRAGMA user_version = 2"))
	s = openTest(t, dir)
	defer s.Close()
	subs, err := s.Subscriptions(ctx, a.ID)
	if err != nil || strings.Join(subs, ",") != "INBOX,Work/Old" {
		t.Fatalf("subscriptions after migration: %q %v", subs, err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "Work/Old"); err != nil {
		t.Fatal(err)
	}
	if subs, err := s.Subscriptions(ctx, a.ID); err != nil || strings.Join(subs, ",") != "INBOX,Work/Old" {
		t.Fatalf("subscriptions after delete: %q %v", subs, err)
	}
	checkConsistency(t, s)
}

func TestOrphanBlobs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	d, err := s.Deliver(ctx, strings.NewReader(testMsg("kept", "kept body")), []store.Target{{AccountID: a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	// A crash between blob write and commit: the blob is written and
	// fsynced but never committed.
	b, err := s.writeBlob(strings.NewReader(testMsg("lost", strings.Repeat("never committed ", inlineMax/8))))
	if err != nil {
		t.Fatal(err)
	}
	if b.path == "" {
		t.Fatal("a content over inlineMax was not written to a file")
	}
	b.close(false)
	s.Close()
	// Stray files of other kinds are orphans too.
	junk := []string{
		filepath.Join(dir, "blobs", "00", "ffffffffffff"),
		filepath.Join(dir, "blobs", "ab", "not-a-blob"),
	}
	for _, j := range junk {
		os.MkdirAll(filepath.Dir(j), 0o700)
		if err := os.WriteFile(j, []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s = openTest(t, dir)
	defer s.Close()
	for _, p := range append(junk, b.path) {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("orphan %s survived Open: %v", p, err)
		}
	}
	r, err := s.Open(ctx, d[0].MailboxID, d[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	checkConsistency(t, s)
	if _, err := s.Deliver(ctx, strings.NewReader(testMsg("after", "x")), []store.Target{{AccountID: a.ID}}); err != nil {
		t.Fatal(err)
	}
	checkConsistency(t, s)
}

func TestBlobsRemoved(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	defer s.Close()
	a := setupAccount(t, s)
	inbox, _ := s.GetMailbox(ctx, a.ID, "INBOX")
	arch, _ := s.GetMailbox(ctx, a.ID, "Archive")
	for i := 0; i < 3; i++ {
		if _, err := s.Deliver(ctx, strings.NewReader(testMsg("gc", "x")), []store.Target{{AccountID: a.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Copy(ctx, inbox.ID, nil, arch.ID); err != nil {
		t.Fatal(err)
	}
	// Contents: files, and rows of blob_data for small ones (inlineMax).
	count := func() int {
		files, _ := filepath.Glob(filepath.Join(s.dir, "blobs", "*", "*"))
		var inline int
		if err := s.rdb.QueryRow("SELECT count(*) FROM blob_data").Scan(&inline); err != nil {
			t.Fatal(err)
		}
		return len(files) + inline
	}
	if n := count(); n != 3 {
		t.Fatalf("%d blob files, want 3 (copies share content)", n)
	}
	if _, _, err := s.SetFlags(ctx, inbox.ID, nil, store.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d blob files after expunging one copy, want 3", n)
	}
	checkConsistency(t, s)
	if err := s.DeleteMailbox(ctx, a.ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d blob files after deleting last copies", n)
	}
	if _, err := s.Deliver(ctx, strings.NewReader(testMsg("gc", "x")), []store.Target{{AccountID: a.ID}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAccount(ctx, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d blob files after RemoveAccount", n)
	}
	checkConsistency(t, s)
}

// TestCrashRecovery kills a process in the middle of concurrent
// deliveries and checks that the store reopens consistent, with every
// acknowledged delivery present.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	s.Close()

	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "POCHTA_CRASH_DIR="+dir, fmt.Sprint("POCHTA_CRASH_ACCOUNT=", a.ID))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		mb   int64
		uid  uint32
		body string
	}
	var acks []ack
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acks) < 150 {
		var k ack
		if _, err := fmt.Sscanf(sc.Text(), "ok %d %d %s", &k.mb, &k.uid, &k.body); err == nil {
			acks = append(acks, k)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(acks) < 150 {
		t.Fatalf("helper acknowledged only %d deliveries", len(acks))
	}

	s = openTest(t, dir)
	defer s.Close()
	checkConsistency(t, s)
	ctx := context.Background()
	for _, k := range acks {
		r, err := s.Open(ctx, k.mb, k.uid)
		if err != nil {
			t.Fatalf("acknowledged message %+v lost: %v", k, err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if !strings.Contains(string(b), k.body) {
			t.Fatalf("message %+v has content %q", k, b)
		}
	}
	// What was queued for the search index at the crash is indexed now.
	last := acks[len(acks)-1]
	if uids, err := s.Search(ctx, last.mb, store.SearchBody, last.body); err != nil || !slices.Contains(uids, last.uid) {
		t.Fatalf("SEARCH BODY %s after the crash = %v, %v", last.body, uids, err)
	}
	uids, err := s.UIDs(ctx, acks[0].mb)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(uids); i++ {
		if uids[i] <= uids[i-1] {
			t.Fatalf("UIDs not ascending: %v", uids)
		}
	}
}

// TestGroupCommit checks that concurrent deliveries share transactions
// (and so fsyncs) and all land durably with unique UIDs.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	defer s.Close()
	a := setupAccount(t, s)
	const senders, each = 50, 4
	before := s.commits.Load()
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				if _, err := s.Deliver(ctx, strings.NewReader(testMsg("gc", fmt.Sprint(i, j))), []store.Target{{AccountID: a.ID}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	batches := s.commits.Load() - before
	if batches >= senders*each {
		t.Fatalf("%d deliveries took %d commits: no group commit", senders*each, batches)
	}
	t.Logf("%d deliveries in %d commits", senders*each, batches)
	checkConsistency(t, s)
}

// TestMain turns the test binary into the crash helper when
// TestCrashRecovery starts it.
func TestMain(m *testing.M) {
	if dir := os.Getenv("POCHTA_CRASH_DIR"); dir != "" {
		crashHelper(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashHelper delivers from several goroutines, acknowledging each
// delivery on stdout, until it is killed (or 30 s pass).
func crashHelper(dir string) {
	acc, _ := strconv.ParseInt(os.Getenv("POCHTA_CRASH_ACCOUNT"), 10, 64)
	s, err := Open(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(30 * time.Second)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				body := fmt.Sprintf("body-%d-%d", g, i)
				content := testMsg("crash", body)
				if i%3 == 0 {
					// Both kinds of content: files, and inline (inlineMax).
					content = testMsg("crash", body+"\r\n"+strings.Repeat("filler ", inlineMax/6))
				}
				d, err := s.Deliver(context.Background(), strings.NewReader(content), []store.Target{{AccountID: acc}})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return
				}
				mu.Lock()
				fmt.Fprintf(w, "ok %d %d %s\n", d[0].MailboxID, d[0].UID, body)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
