package sqlite

import (
	"context"
	"fmt"

	"pochta/internal/store"
)

// Ping implements store.Pinger: the database file answers a query.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	return nil
}

var _ store.Backend = (*Store)(nil)
