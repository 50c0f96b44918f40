package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"pochta/internal/store"
	"pochta/internal/store/names"
	"pochta/internal/store/sqlstore"
)

// The rest of store.Directory is in package sqlstore.

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

var bg = context.Background()

func dbErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) ||
		errors.Is(err, store.ErrInvalidName) || errors.Is(err, store.ErrInUse) ||
		errors.Is(err, store.ErrOverQuota) || errors.Is(err, store.ErrModifiedSince) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errClosed) {
		return err
	}
	return fmt.Errorf("postgres store: %w", err)
}

func nowNano() int64 { return time.Now().UnixNano() }

func fromNano(n int64) time.Time { return time.Unix(0, n).UTC() }

// AddAccount implements store.Directory.
func (s *Store) AddAccount(ctx context.Context, address, passwordHash string) (store.Account, error) {
	return s.addAccount(ctx, address, passwordHash, "")
}

// AddSourcedAccount implements store.AccountSources: the account row
// (with its source and an empty, never matching password hash) and its
// mailboxes are written in one transaction, so a crash never leaves a
// directory user's account looking like one of the store's own.
func (s *Store) AddSourcedAccount(ctx context.Context, address, source string) (store.Account, error) {
	if source == "" {
		return store.Account{}, fmt.Errorf("%w: empty account source", store.ErrInvalidName)
	}
	return s.addAccount(ctx, address, "", source)
}

// addAccount creates an account from source ("" for the store's own)
// with its default mailboxes, in one transaction.
func (s *Store) addAccount(ctx context.Context, address, passwordHash, source string) (store.Account, error) {
	addr, dom, err := names.Address(address)
	if err != nil {
		return store.Account{}, err
	}
	var acc store.Account
	err = s.write(ctx, func(tx *wtx, e *effects) error {
		var err error
		if acc, err = sqlstore.InsertAccount(bg, tx, addr, dom, passwordHash, source); err != nil {
			return err
		}
		for _, mb := range store.DefaultMailboxes {
			if _, err := createMailbox(tx, acc.ID, mb.Name, mb.SpecialUse, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Account{}, dbErr(err)
	}
	return acc, nil
}

// RemoveAccount implements store.Directory.
func (s *Store) RemoveAccount(ctx context.Context, address string) error {
	address = strings.ToLower(strings.TrimSpace(address))
	return dbErr(s.write(ctx, func(tx *wtx, e *effects) error {
		var id int64
		err := tx.QueryRowContext(bg, "SELECT id FROM accounts WHERE address = ?", address).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: account %s", store.ErrNotFound, address)
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(bg, "SELECT id FROM mailboxes WHERE account_id = ?", id)
		if err != nil {
			return err
		}
		var mbs []int64
		for rows.Next() {
			var m int64
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return err
			}
			mbs = append(mbs, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range mbs {
			if err := dropMailbox(tx, e, id, m); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(bg, "UPDATE domains SET catch_all = '' WHERE catch_all = ?", address); err != nil {
			return err
		}
		_, err = tx.ExecContext(bg, "DELETE FROM accounts WHERE id = ?", id)
		return err
	}))
}
