package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"pochta/internal/store"
	"pochta/internal/store/names"
)

var _ store.ServerState = (*Store)(nil)

// GetState implements store.ServerState.
func (s *Store) GetState(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.rdb.QueryRowContext(ctx, "SELECT value FROM server_state WHERE name = ?", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: state %q", store.ErrNotFound, names.Truncate(name))
	}
	if v == nil && err == nil {
		v = []byte{}
	}
	return v, s.dbErr(err)
}

// PutState implements store.ServerState.
func (s *Store) PutState(ctx context.Context, name string, value []byte) error {
	return s.putState(ctx, name, value, "ON CONFLICT(name) DO UPDATE SET value = excluded.value")
}

// AddState implements store.ServerState.
func (s *Store) AddState(ctx context.Context, name string, value []byte) error {
	return s.putState(ctx, name, value, "ON CONFLICT(name) DO NOTHING")
}

func (s *Store) putState(ctx context.Context, name string, value []byte, conflict string) error {
	if err := names.CheckState(name, value); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	return s.dbErr(s.write(ctx, func(tx DB) error {
		res, err := tx.ExecContext(bg, "INSERT INTO server_state(name, value) VALUES(?, ?) "+conflict, name, value)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("%w: state %q", store.ErrExists, names.Truncate(name))
		}
		return err
	}))
}

// DeleteState implements store.ServerState.
func (s *Store) DeleteState(ctx context.Context, name string) error {
	return s.dbErr(s.write(ctx, func(tx DB) error {
		_, err := tx.ExecContext(bg, "DELETE FROM server_state WHERE name = ?", name)
		return err
	}))
}

// ListState implements store.ServerState.
func (s *Store) ListState(ctx context.Context, prefix string) ([]string, error) {
	// substr/length count characters alike in SQLite and PostgreSQL, so
	// no LIKE escaping is needed.
	out, err := queryAll(ctx, s.rdb, func(rows scanner) (string, error) {
		var n string
		return n, rows.Scan(&n)
	}, "SELECT name FROM server_state WHERE substr(name, 1, length(CAST(? AS TEXT))) = ? ORDER BY name", prefix, prefix)
	return out, s.dbErr(err)
}
