package postgres

import "pochta/internal/store"

var _ store.WatchFuncer = (*Store)(nil)

// WatchFunc implements store.WatchFuncer.
func (s *Store) WatchFunc(accountID int64, fn func(store.Change)) func() {
	return s.watch.WatchFunc(accountID, fn)
}
