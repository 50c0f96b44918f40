package postgres

import (
	"context"
	"time"

	"pochta/internal/store"
)

// This file implements store.AccountEvents: rows of account_events with a
// BIGSERIAL seq. Every node may add events; each insert first takes the
// table's EXCLUSIVE lock (readers are not blocked), so events commit in
// seq order and a reader that has seen seq n never later finds a smaller
// one committed.

// accountEventTTL is how long an event is kept.
const accountEventTTL = 24 * time.Hour

// AddAccountEvent implements store.AccountEvents; it also drops the events
// older than a day.
func (s *Store) AddAccountEvent(ctx context.Context, accountID int64) error {
	now := time.Now()
	return dbErr(s.write(ctx, func(tx *wtx, e *effects) error {
		if _, err := tx.ExecContext(bg, "LOCK TABLE account_events IN EXCLUSIVE MODE"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(bg, "DELETE FROM account_events WHERE at < ?", now.Add(-accountEventTTL).UnixNano()); err != nil {
			return err
		}
		_, err := tx.ExecContext(bg, "INSERT INTO account_events(account_id, at) VALUES (?, ?)", accountID, now.UnixNano())
		return err
	}))
}

// AccountEventsAfter implements store.AccountEvents.
func (s *Store) AccountEventsAfter(ctx context.Context, seq int64) ([]int64, int64, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT seq, account_id FROM account_events WHERE seq > ? ORDER BY seq LIMIT ?", seq, store.MaxAccountEvents)
	if err != nil {
		return nil, seq, dbErr(err)
	}
	defer rows.Close()
	var accounts []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&seq, &id); err != nil {
			return nil, seq, dbErr(err)
		}
		accounts = append(accounts, id)
	}
	return accounts, seq, dbErr(rows.Err())
}
