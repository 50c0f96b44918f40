package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"pochta/internal/store"
)

// AddSourcedAccount implements store.AccountSources: the account row
// (with its source and an empty, never matching password hash) and its
// mailboxes are written in one transaction, so a crash never leaves a
// directory user's account looking like one of the store's own.
func (s *Store) AddSourcedAccount(ctx context.Context, address, source string) (store.Account, error) {
	addr, dom, err := normAddress(address)
	if err != nil {
		return store.Account{}, err
	}
	if source == "" {
		return store.Account{}, fmt.Errorf("%w: empty account source", store.ErrInvalidName)
	}
	acc := store.Account{Address: addr}
	err = s.write(ctx, nil, func(tx *wtx, e *effects) error {
		if err := checkNewAddress(tx, addr, dom); err != nil {
			return err
		}
		now := nowNano()
		res, err := tx.ExecContext(bg, "INSERT INTO accounts(address, domain, password_hash, created, source) VALUES(?, ?, '', ?, ?)", addr, dom, now, source)
		if err != nil {
			return err
		}
		if acc.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		acc.Created = fromNano(now)
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

// AccountSource implements store.AccountSources.
func (s *Store) AccountSource(ctx context.Context, address string) (string, error) {
	address = strings.ToLower(strings.TrimSpace(address))
	var source string
	err := s.rdb.QueryRowContext(ctx, "SELECT source FROM accounts WHERE address = ?", address).Scan(&source)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: account %s", store.ErrNotFound, address)
	}
	return source, dbErr(err)
}
