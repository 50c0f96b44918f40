package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pochta/internal/store"
)

// waitIndexed waits (bounded) until the background indexer has emptied
// the queue.
func waitIndexed(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.IndexBacklog() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("index backlog still %d after 30 s", s.IndexBacklog())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func queued(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRow("SELECT count(*) FROM index_queue").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSearchCatchesUp: with the background indexer held, deliveries stay
// queued, and a search still finds every one of them (it has the indexer
// index its mailbox first), leaving other mailboxes' queue alone.
func TestSearchCatchesUp(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	defer s.Close()
	a := setupAccount(t, s)
	if _, err := s.CreateMailbox(ctx, a.ID, "Other", ""); err != nil {
		t.Fatal(err)
	}
	s.indexer.paused.Store(true)
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			box := "INBOX"
			if i%4 == 0 {
				box = "Other"
			}
			if _, err := s.Deliver(ctx, strings.NewReader(testMsg(fmt.Sprintf("catch-up %03d", i), "needle-in-body")), []store.Target{{AccountID: a.ID, Mailbox: box}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := queued(t, s); n != 40 || s.IndexBacklog() != 40 {
		t.Fatalf("queued %d, backlog %d; want 40 while the indexer is held", n, s.IndexBacklog())
	}
	inbox, _ := s.GetMailbox(ctx, a.ID, "INBOX")
	uids, err := s.Search(ctx, inbox.ID, store.SearchBody, "NEEDLE-IN")
	if err != nil || len(uids) != 30 {
		t.Fatalf("SEARCH BODY = %d hits, %v; want 30", len(uids), err)
	}
	if uids, err := s.Search(ctx, inbox.ID, store.SearchSubject, "catch-up 039"); err != nil || len(uids) != 1 {
		t.Fatalf("SEARCH SUBJECT = %v, %v", uids, err)
	}
	if uids, err := s.Search(ctx, inbox.ID, store.SearchField(string(store.SearchHeader)+"subject"), "up 03"); err != nil || len(uids) != 8 {
		t.Fatalf("SEARCH HEADER = %v, %v", uids, err)
	}
	if n := queued(t, s); n != 10 || s.IndexBacklog() != 10 {
		t.Fatalf("after INBOX's search: queued %d, backlog %d; want Other's 10", n, s.IndexBacklog())
	}
	checkConsistency(t, s)
	s.indexer.paused.Store(false)
	s.indexer.kick <- struct{}{}
	waitIndexed(t, s)
	if n := queued(t, s); n != 0 {
		t.Fatalf("queued %d after the indexer ran", n)
	}
	checkConsistency(t, s)
}

// TestIndexQueueExpunged: a message expunged (its blob deleted) before it
// was indexed leaves nothing queued and nothing indexed.
func TestIndexQueueExpunged(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	defer s.Close()
	a := setupAccount(t, s)
	s.indexer.paused.Store(true)
	d, err := s.Deliver(ctx, strings.NewReader(testMsg("gone", "soon")), []store.Target{{AccountID: a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	set := store.UIDSet{{Start: d[0].UID, Stop: d[0].UID}}
	if _, _, err := s.SetFlags(ctx, d[0].MailboxID, set, store.FlagsAdd, []string{`\Deleted`}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, d[0].MailboxID, set); err != nil {
		t.Fatal(err)
	}
	if n := queued(t, s); n != 0 || s.IndexBacklog() != 0 {
		t.Fatalf("queued %d, backlog %d after the expunge", n, s.IndexBacklog())
	}
	checkConsistency(t, s)
}

// TestIndexQueueSurvivesRestart: what was queued when the store closed (or
// crashed) is indexed after the next Open.
func TestIndexQueueSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	s.indexer.paused.Store(true)
	for i := 0; i < 5; i++ {
		if _, err := s.Deliver(ctx, strings.NewReader(testMsg(fmt.Sprint("restart ", i), "after the restart")), []store.Target{{AccountID: a.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openTest(t, dir)
	defer s.Close()
	waitIndexed(t, s)
	if n := queued(t, s); n != 0 {
		t.Fatalf("queued %d after the restart's indexing", n)
	}
	inbox, _ := s.GetMailbox(ctx, a.ID, "INBOX")
	// The index itself answers now: no catch-up is left to do.
	if uids, err := s.Search(ctx, inbox.ID, store.SearchBody, "after the restart"); err != nil || len(uids) != 5 {
		t.Fatalf("SEARCH BODY after restart = %v, %v", uids, err)
	}
	checkConsistency(t, s)
}

// TestMigrateIndexQueue upgrades a database from before the index queue:
// its messages are indexed already, and new ones are queued.
func TestMigrateIndexQueue(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	a := setupAccount(t, s)
	if _, err := s.Deliver(ctx, strings.NewReader(testMsg("old", "indexed before")), []store.Target{{AccountID: a.ID}}); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	s.Close()
	// downgrade also undoes the Email ids (migration 12): set the version
	// before it, and every later migration runs again.
	downgrade(t, dir, []string{"DROP TABLE index_queue", fmt.Sprintf("PRAGMA user_version = %d", migrationIndex(t, "thread_keys"))})
	if migrationIndex(t, "CREATE TABLE IF NOT EXISTS index_queue") <= migrationIndex(t, "thread_keys") {
		t.Fatal("the index queue's migration is not after the Email ids'")
	}
	s = openTest(t, dir)
	defer s.Close()
	if _, err := s.Deliver(ctx, strings.NewReader(testMsg("new", "indexed after")), []store.Target{{AccountID: a.ID}}); err != nil {
		t.Fatal(err)
	}
	inbox, _ := s.GetMailbox(ctx, a.ID, "INBOX")
	if uids, err := s.Search(ctx, inbox.ID, store.SearchBody, "indexed"); err != nil || len(uids) != 2 {
		t.Fatalf("SEARCH after the migration = %v, %v", uids, err)
	}
	checkConsistency(t, s)
}

// TestIndexBatchesShareATransaction: the indexer adds many messages per
// transaction, which is what makes it cheaper than indexing in each
// delivery's commit.
func TestIndexBatchesShareATransaction(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	defer s.Close()
	a := setupAccount(t, s)
	s.indexer.paused.Store(true)
	for i := 0; i < 100; i++ {
		if _, err := s.Deliver(ctx, strings.NewReader(testMsg(fmt.Sprint("batch ", i), "text")), []store.Target{{AccountID: a.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	before := s.commits.Load()
	inbox, _ := s.GetMailbox(ctx, a.ID, "INBOX")
	if err := s.indexer.catchUp(ctx, inbox.ID); err != nil {
		t.Fatal(err)
	}
	if s.IndexBacklog() != 0 {
		t.Fatalf("backlog %d after the catch-up", s.IndexBacklog())
	}
	if n := s.commits.Load() - before; n != 1 {
		t.Fatalf("100 queued messages indexed in %d transactions, want 1", n)
	}
	// The FTS5 table is whole: a fresh connection's integrity check.
	db, err := sql.Open("sqlite", filepath.Join(s.dir, "pochta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO search(search, rank) VALUES('integrity-check', 1)"); err != nil {
		t.Fatalf("FTS5 integrity check: %v", err)
	}
}
