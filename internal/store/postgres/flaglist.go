package postgres

import (
	"context"
	"math"
	"strings"

	"pochta/internal/store"
	"pochta/internal/store/names"
)

// MessageFlags implements store.FlagLister: one statement (one snapshot)
// reading only the three columns, streamed row by row.
func (s *Store) MessageFlags(ctx context.Context, mailboxID int64, set store.UIDSet, changedSince uint64, fn func(uint32, uint64, []string) error) error {
	if err := s.mailboxExists(ctx, mailboxID); err != nil {
		return err
	}
	f := names.NewUIDFilter(set)
	if f.Empty() || changedSince >= math.MaxInt64 {
		return nil // modseqs are bigints: none is above that
	}
	cond, args, filter := setClause(f)
	rows, err := s.rdb.QueryContext(ctx, "SELECT uid, modseq, flags FROM messages WHERE mailbox_id = ? AND modseq > ? AND "+cond+" ORDER BY uid",
		append([]any{mailboxID, int64(changedSince)}, args...)...)
	if err != nil {
		return dbErr(err)
	}
	defer rows.Close()
	var flags []string
	for rows.Next() {
		var uid, modseq int64
		var list string
		if err := rows.Scan(&uid, &modseq, &list); err != nil {
			return dbErr(err)
		}
		if filter && !f.Contains(uint32(uid)) {
			continue
		}
		flags = flags[:0]
		for _, fl := range strings.Split(list, " ") {
			if fl != "" {
				flags = append(flags, fl)
			}
		}
		if err := fn(uint32(uid), uint64(modseq), flags); err != nil {
			return err
		}
	}
	return dbErr(rows.Err())
}
