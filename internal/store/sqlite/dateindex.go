package sqlite

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
	if limit < 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT uid FROM messages INDEXED BY messages_date WHERE mailbox_id = ? AND deleted = 0 ORDER BY internal_date "+
		order+", uid "+order+" LIMIT ? OFFSET ?", mailboxID, limit, max(offset, 0))
	if err != nil {
		return nil, dbErr(err)
	}
	return scanUIDs(rows)
}

func scanUIDs(rows *sql.Rows) ([]uint32, error) {
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u int64
		if err := rows.Scan(&u); err != nil {
			return nil, dbErr(err)
		}
		out = append(out, uint32(u))
	}
	return out, dbErr(rows.Err())
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
