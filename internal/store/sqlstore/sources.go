package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"pochta/internal/store"
)

// AccountSource implements store.AccountSources.
func (s *Store) AccountSource(ctx context.Context, address string) (string, error) {
	address = strings.ToLower(strings.TrimSpace(address))
	var source string
	err := s.rdb.QueryRowContext(ctx, "SELECT source FROM accounts WHERE address = ?", address).Scan(&source)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: account %s", store.ErrNotFound, address)
	}
	return source, s.dbErr(err)
}
