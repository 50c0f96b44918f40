package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"pochta/internal/store"
)

// UIDsByDate implements store.DateIndex from the messages_date index.
func (s *Store) UIDsByDate(ctx context.Context, mailboxID int64, ascending bool, offset, limit int) ([]uint32, error) {
	if _, err := mailboxByID(ctx, s.rdb, mailboxID); err != nil {
		return nil, dbErr(err)
	}
	order := "DESC"
	if ascending {
		order = "ASC"
	}
	q := "SELECT uid FROM messages WHERE mailbox_id = ? AND deleted = 0 ORDER BY internal_date " + order + ", uid " + order + " OFFSET ?"
	args := []any{mailboxID, max(offset, 0)}
	if limit >= 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(err)
	}
	return scanUIDs(rows)
}

// DateCount implements store.DateIndex.
func (s *Store) DateCount(ctx context.Context, mailboxID int64) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, "SELECT n_messages - n_deleted FROM mailboxes WHERE id = ?", mailboxID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: mailbox %d", store.ErrNotFound, mailboxID)
	}
	return n, dbErr(err)
}
