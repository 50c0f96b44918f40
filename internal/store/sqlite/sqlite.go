// Package sqlite is pochta's embedded default mail store: a store.Store kept
// in one directory, with metadata in SQLite and message contents in files.
//
// On-disk layout of the directory given to Open:
//
//	pochta.db                 SQLite database (WAL mode, synchronous=FULL,
//	pochta.db-wal, -shm       foreign keys on, busy timeout); schema version
//	                          in PRAGMA user_version, migrated at Open
//	blobs/<2 hex>/<16 hex>    message contents, one file per content blob;
//	                          the 16 hex digits are the blob id, the
//	                          directory is bits 8-15 of the id so that blobs
//	                          written close together share a directory
//
// One content blob can be shared by several messages (a multi-recipient
// Deliver, Copy); blobs are reference counted and their files removed when
// the last message using them is expunged.
//
// Durability and group commit: a writer first writes its blob file (no
// fsync yet) in its own goroutine, then hands its metadata change to a
// single committer goroutine. The committer gathers every pending request
// into one SQLite transaction (each request in its own savepoint, so one
// failing request does not fail the others), makes all the batch's new blob
// files durable with one syncfs(2) (see syncBlobs), commits (one WAL fsync),
// and then wakes all callers. Concurrent deliveries therefore share both
// their file and their metadata fsyncs, and none returns before its own
// data is durable.
//
// Crash safety: a crash between a blob write and its commit leaves an
// unreferenced file; Open deletes such orphans and runs PRAGMA quick_check.
// Readers use a separate connection pool and never wait for the writer.
//
// Search is answered from an index (an FTS5 trigram table plus a header
// table), never by reading message files at search time: the index is
// built in the background right after delivery (indexer.go), and a search
// first has the indexer catch up on its mailbox.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"pochta/internal/store"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

var _ store.Store = (*Store)(nil)

// errClosed is returned by methods called after Close.
var errClosed = errors.New("sqlite store: closed")

// maxBatch bounds how many write requests share one transaction.
const maxBatch = 512

// Store is a store.Store backed by SQLite and blob files. It is safe for
// concurrent use.
type Store struct {
	dir  string
	wdb  *sql.DB // single connection, used only by the committer
	rdb  *sql.DB // read pool
	reqs chan *writeReq
	// prepared caches writer statements; used only by the committer.
	prepared  map[string]*sql.Stmt
	toPrepare map[string]bool
	// readStmts caches prepared statements of the hottest read queries
	// (Messages, Open), keyed by SQL text; the key set is small and fixed.
	readMu     sync.Mutex
	readStmts  map[string]*sql.Stmt
	readClosed bool
	quit       chan struct{}
	done       chan struct{}

	closeOnce sync.Once
	closeErr  error

	nextBlob atomic.Int64 // next blob id to try
	commits  atomic.Int64 // committed batches, for tests

	// inflight counts write requests waiting or running; lastCommit is
	// when the last batch committed (Unix ns). The indexer takes its turn
	// when the committer is idle.
	inflight   atomic.Int64
	lastCommit atomic.Int64
	indexer    *indexer

	mkdirMu sync.Mutex
	madeDir map[string]bool // blob directories known to exist durably

	watch store.Watchers

	*shared
}

// Open opens (creating if needed) the store in dir, migrates the schema,
// verifies the database and removes blob files left by an interrupted write.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "pochta.db")
	pragmas := "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)"
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + pragmas
	// The committer's transactions take the write lock at BEGIN
	// (_txlock=immediate), where SQLite waits for a lock held elsewhere
	// (busy_timeout). A deferred BEGIN takes it at the first write after
	// the first read, and SQLite refuses that upgrade at once with
	// SQLITE_BUSY, without waiting, if the lock is held at that moment:
	// imaptest's stress saw such NO [SERVERBUG] replies.
	wdb, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	s := &Store{
		dir:       dir,
		wdb:       wdb,
		reqs:      make(chan *writeReq),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		madeDir:   map[string]bool{},
		prepared:  map[string]*sql.Stmt{},
		toPrepare: map[string]bool{},
	}
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	if err := quickCheck(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	if err := s.removeOrphans(ctx); err != nil {
		wdb.Close()
		return nil, err
	}
	// Readers set no journal mode (the database is in WAL mode for good:
	// the writer set it) and nothing that takes a lock; they wait for
	// locks like the writer does.
	rdb, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=query_only(1)")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	n := 2 * runtime.GOMAXPROCS(0)
	if n < 4 {
		n = 4
	}
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	// Open every reader now rather than under the first load.
	conns := make([]*sql.Conn, 0, n)
	for range n {
		c, err := rdb.Conn(ctx)
		if err != nil {
			break // opened on demand later, as before
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	s.rdb = rdb
	s.shared = s.newShared()
	go s.commitLoop()
	if err := s.startIndexer(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the committer and closes the database. Pending writes finish
// first; watch channels are closed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.indexer != nil {
			s.indexer.close()
		}
		close(s.quit)
		<-s.done
		for _, st := range s.prepared {
			st.Close()
		}
		s.readMu.Lock()
		for _, st := range s.readStmts {
			st.Close()
		}
		s.readStmts, s.readClosed = nil, true
		s.readMu.Unlock()
		s.watch.Close()
		err1 := s.rdb.Close()
		err2 := s.wdb.Close()
		s.closeErr = errors.Join(err1, err2)
	})
	return s.closeErr
}

// readStmt returns a prepared statement of the read pool for query,
// preparing it on first use; it saves SQLite parsing the same text on
// every call of a hot read path. database/sql re-prepares it per pooled
// connection as needed.
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if st, ok := s.readStmts[query]; ok {
		return st, nil
	}
	if s.readClosed {
		return nil, errClosed
	}
	st, err := s.rdb.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if s.readStmts == nil {
		s.readStmts = map[string]*sql.Stmt{}
	}
	s.readStmts[query] = st
	return st, nil
}

func quickCheck(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return fmt.Errorf("sqlite store: quick_check: %w", err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return fmt.Errorf("sqlite store: quick_check: %w", err)
		}
		if m != "ok" {
			msgs = append(msgs, m)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite store: quick_check: %w", err)
	}
	if len(msgs) > 0 {
		return fmt.Errorf("sqlite store: database corrupt: %v", msgs)
	}
	return nil
}

// removeOrphans deletes blob files that no database row references (left
// by a crash between the blob write and its commit) and initialises the
// blob id counter.
func (s *Store) removeOrphans(ctx context.Context) error {
	var maxID sql.NullInt64
	if err := s.wdb.QueryRowContext(ctx, "SELECT max(id) FROM blobs").Scan(&maxID); err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	s.nextBlob.Store(maxID.Int64 + 1)
	root := filepath.Join(s.dir, "blobs")
	subs, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	stmt, err := s.wdb.PrepareContext(ctx, "SELECT 1 FROM blobs WHERE id = ?")
	if err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	defer stmt.Close()
	for _, sub := range subs {
		if !sub.IsDir() {
			continue
		}
		subdir := filepath.Join(root, sub.Name())
		files, err := os.ReadDir(subdir)
		if err != nil {
			return fmt.Errorf("sqlite store: %w", err)
		}
		removed := false
		for _, f := range files {
			id, perr := strconv.ParseUint(f.Name(), 16, 63)
			keep := false
			if perr == nil && f.Type().IsRegular() {
				var one int
				err := stmt.QueryRowContext(ctx, int64(id)).Scan(&one)
				switch {
				case err == nil:
					keep = true
				case !errors.Is(err, sql.ErrNoRows):
					return fmt.Errorf("sqlite store: %w", err)
				}
			}
			if keep {
				continue
			}
			if err := os.RemoveAll(filepath.Join(subdir, f.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("sqlite store: removing orphan: %w", err)
			}
			removed = true
		}
		if removed {
			if err := syncDir(subdir); err != nil {
				return err
			}
		}
	}
	return nil
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	err = d.Sync()
	cerr := d.Close()
	if err != nil {
		return fmt.Errorf("sqlite store: fsync dir: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("sqlite store: %w", cerr)
	}
	return nil
}
