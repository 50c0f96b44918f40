package sqlite

import (
	"context"

	"pochta/internal/store"
	"pochta/internal/store/identity"
)

// nextEmailIDs takes n new Email ids (meta 'email_id' holds the last one
// given).
func nextEmailIDs(tx *wtx, n int) ([]int64, error) {
	var last int64
	if err := tx.QueryRowContext(bg, "INSERT INTO meta(key, value) VALUES('email_id', ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value RETURNING value", n).Scan(&last); err != nil {
		return nil, err
	}
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = last - int64(n-1-i)
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
