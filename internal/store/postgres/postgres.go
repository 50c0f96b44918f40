// Package postgres is pochta's store for several nodes: a store.Store kept
// entirely in one PostgreSQL database (pgx v5, pgxpool), so that any
// number of pochta processes on any machines serve the same accounts and
// keep no mail state of their own.
//
// Layout: the same tables as store/sqlite (domains, accounts, aliases,
// mailboxes, messages, expunged, subscriptions, app passwords, SCRAM
// keys, Sieve scripts, spam counts) plus the message contents in
// blobs.data (bytea, one row per content, reference counted and shared
// by every copy of a message) and a search table with pg_trgm GIN indexes
// for IMAP SEARCH's substring matching. The schema version is kept in
// schema_version; Open migrates under pg_advisory_xact_lock, so nodes
// starting at once are safe. The role needs to own its database only:
// pg_trgm is a trusted extension (PostgreSQL 13+).
//
// Durability is PostgreSQL's: a writer hands its change to the store's
// committer goroutine, which runs every pending change in one transaction
// (one savepoint each, so a failing change does not fail the others) and
// returns to the callers only after COMMIT. Concurrent deliveries thus
// share one commit (group commit).
//
// Several nodes: UIDs, modseqs and quota are read with SELECT ... FOR
// UPDATE on the mailbox and account rows inside the writing transaction,
// so concurrent writers from other nodes wait on the row lock and see the
// committed values; a change that loses a deadlock is retried. Every
// committing transaction also sends pg_notify on one channel; each Store
// LISTENs on a dedicated connection and passes other nodes' changes to
// its watchers (reconnecting on failure, then waking every watcher so
// that sessions resync).
package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"pochta/internal/store"
)

var _ store.Backend = (*Store)(nil)

// errClosed is returned by methods called after Close.
var errClosed = errors.New("postgres store: closed")

// maxBatch bounds how many write requests share one transaction.
const maxBatch = 256

// Store is a store.Store backed by PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	cfg  *pgx.ConnConfig // for the LISTEN connection
	wdb  *sql.DB         // one connection, used only by the committer
	rdb  *sql.DB         // read pool
	reqs chan *writeReq
	quit chan struct{}
	done chan struct{}
	// node tells this Store's notifications from other processes'.
	node    string
	commits atomic.Int64 // committed batches, for tests

	listenCancel context.CancelFunc
	listenDone   chan struct{}

	closeOnce sync.Once
	closeErr  error

	watch store.Watchers

	*shared
}

// Open connects to the database at url (postgres://...), migrates the
// schema and starts the committer and the change listener.
func Open(ctx context.Context, url string) (*Store, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	if pcfg.MaxConns < 8 {
		pcfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	var id [8]byte
	rand.Read(id[:]) //nolint:errcheck // never fails (crypto/rand)
	s := &Store{
		pool: pool,
		cfg:  pcfg.ConnConfig,
		reqs: make(chan *writeReq),
		quit: make(chan struct{}),
		done: make(chan struct{}),
		node: hex.EncodeToString(id[:]),
	}
	conn := rebindConnector{stdlib.GetPoolConnector(pool)}
	s.rdb = sql.OpenDB(conn)
	s.rdb.SetMaxIdleConns(0) // idle connections stay in the pool
	s.wdb = sql.OpenDB(conn)
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.shared = s.newShared()
	if err := migrate(ctx, pool); err != nil {
		s.closeDBs()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.listenCancel, s.listenDone = cancel, make(chan struct{})
	first, err := s.connectListener(ctx)
	if err != nil {
		cancel()
		s.closeDBs()
		return nil, err
	}
	go s.listen(lctx, first)
	go s.commitLoop()
	return s, nil
}

func (s *Store) closeDBs() error {
	err1 := s.rdb.Close()
	err2 := s.wdb.Close()
	s.pool.Close()
	return errors.Join(err1, err2)
}

// Close stops the committer and the listener and closes the connections.
// Pending writes finish first; watch channels are closed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.done
		s.listenCancel()
		<-s.listenDone
		s.watch.Close()
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

// Ping implements store.Pinger: it reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres store: %w", err)
	}
	return nil
}

// rebindConnector lets the SQL shared in shape with store/sqlite keep its
// "?" placeholders: its connections rewrite them to PostgreSQL's $n.
type rebindConnector struct{ driver.Connector }

// Connect implements driver.Connector.
func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := cn.(*stdlib.Conn)
	if !ok {
		cn.Close()
		return nil, fmt.Errorf("postgres store: unexpected driver connection %T", cn)
	}
	return &rebindConn{sc}, nil
}

// rebindConn is a pgx connection that rewrites placeholders.
type rebindConn struct{ *stdlib.Conn }

func (c *rebindConn) Prepare(q string) (driver.Stmt, error) { return c.Conn.Prepare(rebind(q)) }

func (c *rebindConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(q))
}

func (c *rebindConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(q), args)
}

func (c *rebindConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(q), args)
}

// rebind replaces each "?" outside string literals and quoted names with
// $1, $2, ...
func rebind(q string) string {
	var b []byte
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			if b == nil {
				b = make([]byte, 0, len(q)+16)
				b = append(b, q[:i]...)
			}
			n++
			b = append(b, '$')
			b = fmt.Appendf(b, "%d", n)
			continue
		}
		if b != nil {
			b = append(b, c)
		}
	}
	if b == nil {
		return q
	}
	return string(b)
}
