package postgres

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
	if source == "" {
		return store.Account{}, fmt.Errorf("%w: empty account source", store.ErrInvalidName)
	}
	return s.addAccount(ctx, address, "", source)
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
