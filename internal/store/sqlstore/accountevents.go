package sqlstore

import (
	"context"
	"time"

	"pochta/internal/store"
)

// This file implements store.AccountEvents: rows of account_events, whose
// seq never goes back, even when old rows are dropped (sqlite:
// AUTOINCREMENT; PostgreSQL: BIGSERIAL). On PostgreSQL every node may add
// events, so each insert first runs the backend's Config.EventsLock (the
// table's EXCLUSIVE lock; readers are not blocked): events then commit in
// seq order, and a reader that has seen seq n never later finds a smaller
// one committed. sqlite has one writer and needs none.

// accountEventTTL is how long an event is kept.
const accountEventTTL = 24 * time.Hour

// AddAccountEvent implements store.AccountEvents; it also drops the events
// older than a day.
func (s *Store) AddAccountEvent(ctx context.Context, accountID int64) error {
	now := time.Now()
	return s.dbErr(s.write(ctx, func(tx DB) error {
		if s.eventsLock != "" {
			if _, err := tx.ExecContext(bg, s.eventsLock); err != nil {
				return err
			}
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
		return nil, seq, s.dbErr(err)
	}
	defer rows.Close()
	var accounts []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&seq, &id); err != nil {
			return nil, seq, s.dbErr(err)
		}
		accounts = append(accounts, id)
	}
	return accounts, seq, s.dbErr(rows.Err())
}
