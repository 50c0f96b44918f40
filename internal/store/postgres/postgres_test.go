package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"pochta/internal/pgtest"
	"pochta/internal/store"
	"pochta/internal/store/storetest"
)

// TestPostgres runs everything against one PostgreSQL server (starting
// one costs a second or two), with a fresh database per case.
func TestPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	open := func(t *testing.T, url string) *Store {
		t.Helper()
		s, err := Open(context.Background(), url)
		if err != nil {
			t.Fatalf("%v\n%s", err, srv.Log())
		}
		return s
	}
	t.Run("Conformance", func(t *testing.T) {
		// One database and schema, emptied between cases (TRUNCATE):
		// far quicker than a database, or a migration, per case.
		url := srv.NewDatabase(t)
		admin, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		first := true
		storetest.Run(t, func(t *testing.T) store.Store {
			if !first {
				var tables string
				err := admin.QueryRow("SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables WHERE schemaname = current_schema() AND tablename != 'schema_version'").Scan(&tables)
				if err == nil {
					_, err = admin.Exec("TRUNCATE " + tables + " RESTART IDENTITY CASCADE")
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			first = false
			// No WAL flush per commit: durability is not what this suite checks.
			return open(t, url+"&synchronous_commit=off")
		})
	})
	t.Run("MigrateConcurrently", func(t *testing.T) {
		url := srv.NewDatabase(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(context.Background(), url)
				if err == nil {
					s.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("TwoNodes", func(t *testing.T) {
		url := srv.NewDatabase(t)
		a, b := open(t, url), open(t, url)
		defer a.Close()
		defer b.Close()
		testTwoNodes(t, a, b)
	})
	t.Run("ListenerReconnects", func(t *testing.T) {
		url := srv.NewDatabase(t)
		a, b := open(t, url), open(t, url)
		defer a.Close()
		defer b.Close()
		testListenerReconnects(t, a, b)
	})
}

// setup makes a domain and an account on s.
func setup(t *testing.T, s *Store, addr string) (store.Account, store.Mailbox) {
	t.Helper()
	ctx := context.Background()
	dom := addr[strings.IndexByte(addr, '@')+1:]
	if _, err := s.GetDomain(ctx, dom); err != nil {
		if err := s.AddDomain(ctx, dom); err != nil {
			t.Fatal(err)
		}
	}
	acc, err := s.AddAccount(ctx, addr, "x")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := s.GetMailbox(ctx, acc.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return acc, inbox
}

// waitChange waits (at most 10 s) for a change of mailbox on ch.
func waitChange(t *testing.T, ch <-chan store.Change, mailbox int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatal("watch channel closed")
			}
			if c.MailboxID == mailbox {
				return
			}
		case <-deadline:
			t.Fatalf("no change of mailbox %d from the other node", mailbox)
		}
	}
}

// testTwoNodes: two Stores on one database (two nodes) see each other's
// deliveries and flag changes through Watch, and concurrent deliveries
// from both get unique, increasing UIDs and modseqs with none lost.
func testTwoNodes(t *testing.T, a, b *Store) {
	ctx := context.Background()
	acc, inbox := setup(t, a, "u@example.org")
	ch, cancel := b.Watch(acc.ID)
	defer cancel()
	if _, err := a.Deliver(ctx, strings.NewReader("Subject: hi\r\n\r\nbody\r\n"), []store.Target{{AccountID: acc.ID}}); err != nil {
		t.Fatal(err)
	}
	waitChange(t, ch, inbox.ID)
	uids, err := b.UIDs(ctx, inbox.ID)
	if err != nil || len(uids) != 1 {
		t.Fatalf("node B sees %v, %v", uids, err)
	}
	if _, _, err := a.SetFlags(ctx, inbox.ID, nil, store.FlagsAdd, []string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	waitChange(t, ch, inbox.ID)
	changed, _, err := b.Changes(ctx, inbox.ID, 0)
	if err != nil || len(changed) != 1 || !changed[0].HasFlag(`\Seen`) {
		t.Fatalf("node B sees %+v, %v", changed, err)
	}

	// Concurrent writers on both nodes.
	const per = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*per)
	for _, s := range []*Store{a, b} {
		for i := 0; i < per; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := fmt.Sprintf("Subject: m%d\r\n\r\nx\r\n", i)
				if i%2 == 0 {
					_, err := s.Deliver(ctx, strings.NewReader(msg), []store.Target{{AccountID: acc.ID}})
					errs <- err
				} else {
					_, err := s.Append(ctx, inbox.ID, nil, time.Time{}, strings.NewReader(msg))
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	uids, err = a.UIDs(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(uids) != 1+2*per || !slices.IsSorted(uids) || uids[len(uids)-1] != uint32(len(uids)) {
		t.Fatalf("UIDs after concurrent writes on two nodes: %v", uids)
	}
	var modseqs []uint64
	if err := b.Messages(ctx, inbox.ID, nil, func(m store.Message) error {
		modseqs = append(modseqs, m.ModSeq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, m := range modseqs[1:] {
		if seen[m] {
			t.Fatalf("modseq %d given twice: %v", m, modseqs)
		}
		seen[m] = true
	}
	st, err := b.Status(ctx, inbox.ID)
	if err != nil || st.Messages != uint32(1+2*per) || st.UIDNext != uint32(2+2*per) {
		t.Fatalf("status %+v, %v", st, err)
	}
}

// testListenerReconnects: when node B's LISTEN connection is killed, B
// reconnects, wakes its watchers, and hears later changes again.
func testListenerReconnects(t *testing.T, a, b *Store) {
	ctx := context.Background()
	acc, inbox := setup(t, a, "r@example.org")
	ch, cancel := b.Watch(acc.ID)
	defer cancel()
	// The owner may end its own role's backends.
	if _, err := a.rdb.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid != pg_backend_pid()"); err != nil {
		t.Fatal(err)
	}
	waitChange(t, ch, inbox.ID) // the wake-up after reconnecting
	// Now a delivery on A is heard again (allow for the reconnect).
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := a.Deliver(ctx, strings.NewReader("Subject: again\r\n\r\n"), []store.Target{{AccountID: acc.ID}}); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-ch:
			if c.MailboxID == inbox.ID {
				return
			}
		case <-time.After(2 * time.Second):
		}
		if time.Now().After(deadline) {
			t.Fatal("node B does not hear node A after its listener reconnected")
		}
	}
}
