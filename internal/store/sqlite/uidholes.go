package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"pochta/internal/store/names"
)

// uidsFromHoles returns the UIDs of a mailbox whose lowest and highest
// are lo and hi and which holds n messages, from the expunged table
// instead of a walk over every message: [lo, hi] without the expunged
// UIDs in it. It reads only the expunged rows in that range (and, for the
// proof, looks each up in messages), so a million-message mailbox with a
// few holes opens without reading its million rows. The answer is used
// only when it is provably right: no expunged UID is among the messages
// and the remaining count is the mailbox's message count (then the
// messages, a subset of the remaining UIDs, are all of them). ok is false
// otherwise, and when there are more holes than messages (a walk is
// cheaper); the caller then walks the messages.
func uidsFromHoles(ctx context.Context, tx *sql.Tx, mailboxID, lo, hi, n int64) (uids []uint32, ok bool, err error) {
	var holes, reused int64
	var list sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT count(*), count(m.uid), group_concat(e.uid, ',')
FROM (SELECT uid FROM expunged WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid LIMIT ?4) e
LEFT JOIN messages m ON m.mailbox_id = ?1 AND m.uid = e.uid`, mailboxID, lo, hi, n+1).Scan(&holes, &reused, &list)
	if err != nil {
		return nil, false, err
	}
	if holes > n || reused != 0 || hi-lo+1-holes != n {
		return nil, false, nil
	}
	gone, err := names.ParseUIDList(list.String, int(holes))
	if err != nil {
		return nil, false, fmt.Errorf("sqlite store: %w", err)
	}
	out := make([]uint32, 0, n)
	next := lo
	for _, g := range gone {
		for ; next < int64(g); next++ {
			out = append(out, uint32(next))
		}
		next = int64(g) + 1
	}
	for ; next <= hi; next++ {
		out = append(out, uint32(next))
	}
	if int64(len(out)) != n {
		return nil, false, nil
	}
	return out, true, nil
}
