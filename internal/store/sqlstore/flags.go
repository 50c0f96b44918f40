package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"pochta/internal/store"
)

// This file implements store.AccountFlagStore: one row in account_flags
// per account whose flags were ever set.

// AccountFlags implements store.AccountFlagStore.
func (s *Store) AccountFlags(ctx context.Context, accountID int64) (store.AccountFlags, error) {
	var admin, disabled sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT f.admin, f.disabled FROM accounts a
		LEFT JOIN account_flags f ON f.account_id = a.id WHERE a.id = ?`, accountID).Scan(&admin, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return store.AccountFlags{}, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	}
	return store.AccountFlags{Admin: admin.Int64 != 0, Disabled: disabled.Int64 != 0}, s.dbErr(err)
}

// SetAccountFlags implements store.AccountFlagStore.
func (s *Store) SetAccountFlags(ctx context.Context, accountID int64, f store.AccountFlags) error {
	return s.dbErr(s.write(ctx, func(tx DB) error {
		if err := AccountExists(bg, tx, accountID); err != nil {
			return err
		}
		_, err := tx.ExecContext(bg, `INSERT INTO account_flags (account_id, admin, disabled) VALUES (?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET admin = excluded.admin, disabled = excluded.disabled`,
			accountID, b2i(f.Admin), b2i(f.Disabled))
		return err
	}))
}
