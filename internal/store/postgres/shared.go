package postgres

import (
	"context"

	"pochta/internal/store/sqlstore"
)

// shared is the SQL this backend shares with the other one (package
// sqlstore); Store embeds it, so its methods are the Store's.
type shared = sqlstore.Store

// newShared makes the shared stores over the read pool, the committer and
// this backend's error mapping.
func (s *Store) newShared() *shared {
	return sqlstore.New(sqlstore.Config{Read: s.rdb, Write: s.sharedWrite, Err: dbErr, Mail: s,
		EventsLock: "LOCK TABLE account_events IN EXCLUSIVE MODE"})
}

// sharedWrite runs a shared store's change in the committer's transaction.
func (s *Store) sharedWrite(ctx context.Context, fn func(tx sqlstore.DB) error) error {
	return s.write(ctx, func(tx *wtx, e *effects) error { return fn(tx) })
}
