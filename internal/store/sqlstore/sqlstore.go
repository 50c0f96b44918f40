// Package sqlstore is the SQL both backends share: the small stores
// (domains, accounts and aliases but for adding and removing an account,
// Sieve scripts, app passwords, spam counts, server state, web sessions,
// SCRAM keys, account flags and sources, upload rows, the importer's
// statements) that store/sqlite and store/postgres implement alike.
//
// The SQL is written once, with "?" placeholders (store/postgres rewrites
// them to $n on its connections) and in the dialect both databases
// understand: ON CONFLICT upserts, INSERT ... RETURNING, CASE rather than
// SQLite's max() or PostgreSQL's GREATEST, booleans as 0/1 integers. Each
// backend embeds a Store made by New with its read pool, a function that
// runs a change in its committer's transaction and its error mapping, so
// that sqlite's writes keep going through its single committer and
// postgres's through its own.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"pochta/internal/store"
)

// DB is what a read pool, a transaction and sqlite's committer offer.
type DB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a row being read: *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// WriteFunc runs fn in the backend's write transaction and returns once
// the change is durable (or fn failed and its change was rolled back).
type WriteFunc func(ctx context.Context, fn func(tx DB) error) error

// Appender is the backend's append of a message (store.Mailstore.Append),
// which ImportMessage uses.
type Appender interface {
	Append(ctx context.Context, mailboxID int64, flags []string, date time.Time, content io.Reader) (store.Message, error)
}

// Config is what a backend gives New.
type Config struct {
	Read  DB                // the read pool
	Write WriteFunc         // the committer
	Err   func(error) error // the backend's error mapping (prefix, sentinel errors kept)
	Mail  Appender          // the backend itself
	// EventsLock, if not empty, runs before an account event is added:
	// PostgreSQL's table lock that orders inserts from several nodes.
	EventsLock string
}

// Store implements the shared stores over one backend's connections.
type Store struct {
	rdb        DB
	write      WriteFunc
	dbErr      func(error) error
	append     Appender
	eventsLock string
}

// New returns the shared stores of a backend.
func New(c Config) *Store {
	return &Store{rdb: c.Read, write: c.Write, dbErr: c.Err, append: c.Mail, eventsLock: c.EventsLock}
}

// bg is the context of statements inside a write: the committer's
// transaction outlives any one caller's context.
var bg = context.Background()

func nowNano() int64 { return time.Now().UnixNano() }

func fromNano(n int64) time.Time { return time.Unix(0, n).UTC() }

// b2i is a boolean as the 0/1 integer both schemas keep.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Exists reports whether query returns a row.
func Exists(ctx context.Context, q DB, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// AccountExists returns store.ErrNotFound unless the account exists.
func AccountExists(ctx context.Context, q DB, id int64) error {
	ok, err := Exists(ctx, q, "SELECT 1 FROM accounts WHERE id = ?", id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: account %d", store.ErrNotFound, id)
	}
	return nil
}

// queryAll runs query and returns its rows as scan reads them.
func queryAll[T any](ctx context.Context, q DB, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
