package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"pochta/internal/store"
)

var _ store.SCRAMStore = (*Store)(nil)

// withExtra scans a row's account columns and then extra ones.
type withExtra struct {
	row   *sql.Row
	extra []any
}

func (w withExtra) Scan(dest ...any) error { return w.row.Scan(append(dest, w.extra...)...) }

// SCRAMKeys implements store.SCRAMStore: the verifier counts only while
// it was made beside the account's current password hash.
func (s *Store) SCRAMKeys(ctx context.Context, address string) (store.Account, string, error) {
	address = strings.ToLower(strings.TrimSpace(address))
	var keys string
	a, err := scanAccount(withExtra{s.rdb.QueryRowContext(ctx, "SELECT "+accountCols+
		", COALESCE((SELECT k.keys FROM scram_keys k WHERE k.account_id = accounts.id AND k.password_hash = accounts.password_hash), '')"+
		" FROM accounts WHERE address = ?", address), []any{&keys}})
	if errors.Is(err, sql.ErrNoRows) {
		return store.Account{}, "", fmt.Errorf("%w: account %s", store.ErrNotFound, address)
	}
	if err != nil {
		return store.Account{}, "", s.dbErr(err)
	}
	return a, keys, nil
}

// SetSCRAMKeys implements store.SCRAMStore.
func (s *Store) SetSCRAMKeys(ctx context.Context, address, passwordHash, keys string) error {
	address = strings.ToLower(strings.TrimSpace(address))
	return s.dbErr(s.write(ctx, func(tx DB) error {
		var id int64
		var current string
		err := tx.QueryRowContext(bg, "SELECT id, password_hash FROM accounts WHERE address = ?", address).Scan(&id, &current)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: account %s", store.ErrNotFound, address)
		}
		if err != nil {
			return err
		}
		if current != passwordHash {
			return fmt.Errorf("%w: password of %s", store.ErrModifiedSince, address)
		}
		_, err = tx.ExecContext(bg, "INSERT INTO scram_keys(account_id, password_hash, keys) VALUES(?, ?, ?) ON CONFLICT(account_id) DO UPDATE SET password_hash = excluded.password_hash, keys = excluded.keys", id, passwordHash, keys)
		return err
	}))
}
