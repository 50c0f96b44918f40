package postgres

import (
	"context"
	"fmt"

	"pochta/internal/store"
	"pochta/internal/store/identity"
)

// nextEmailIDs takes n new Email ids from the sequence email_ids (not
// necessarily consecutive: other nodes take theirs meanwhile).
func nextEmailIDs(tx *wtx, n int) ([]int64, error) {
	rows, err := tx.QueryContext(bg, "SELECT nextval('email_ids') FROM generate_series(1, ?)", n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := make([]int64, 0, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ids) != n {
		return nil, fmt.Errorf("postgres store: %d email ids for %d", len(ids), n)
	}
	return ids, nil
}

// EmailRefs implements store.Emails.
func (s *Store) EmailRefs(ctx context.Context, mailboxID int64, uids []uint32) (map[uint32]store.EmailRef, error) {
	out, err := identity.Refs(ctx, s.rdb, mailboxID, uids)
	return out, dbErr(err)
}

// FindEmails implements store.Emails.
func (s *Store) FindEmails(ctx context.Context, accountID int64, ids []int64) (map[int64]store.EmailRef, error) {
	out, err := identity.Find(ctx, s.rdb, accountID, ids)
	return out, dbErr(err)
}

// ThreadEmails implements store.Emails.
func (s *Store) ThreadEmails(ctx context.Context, accountID, threadID int64, limit int) ([]store.EmailRef, error) {
	out, err := identity.Thread(ctx, s.rdb, accountID, threadID, limit)
	return out, dbErr(err)
}
