package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"pochta/internal/store/sqlstore"
)

// shared is the SQL this backend shares with the other one (package
// sqlstore); Store embeds it, so its methods are the Store's.
type shared = sqlstore.Store

// newShared makes the shared stores over the read pool, the committer and
// this backend's error mapping.
func (s *Store) newShared() *shared {
	return sqlstore.New(sqlstore.Config{Read: cachedReader{s}, Write: s.sharedWrite, Err: dbErr, Mail: s})
}

// cachedReader is the read pool with the shared stores' statements
// prepared once (readStmt): their lookups (a domain, an account, an alias)
// run for every recipient of every message, and preparing the SQL each time
// was 7% of an SMTP session's CPU. The shared SQL is a fixed set of texts;
// past maxPrepared of them the rest run unprepared.
type cachedReader struct{ s *Store }

func (c cachedReader) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.s.readMu.Lock()
	_, ok := c.s.readStmts[query]
	full := len(c.s.readStmts) >= maxPrepared
	c.s.readMu.Unlock()
	if !ok && full {
		return nil, errors.New("sqlite store: read statement cache full")
	}
	return c.s.readStmt(ctx, query)
}

func (c cachedReader) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.s.rdb.ExecContext(ctx, query, args...)
}

func (c cachedReader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return c.s.rdb.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (c cachedReader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return c.s.rdb.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// sharedWrite runs a shared store's change in the committer's transaction.
func (s *Store) sharedWrite(ctx context.Context, fn func(tx sqlstore.DB) error) error {
	return s.write(ctx, nil, func(tx *wtx, e *effects) error { return fn(tx) })
}
