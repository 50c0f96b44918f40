package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
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
	gone, err := parseUIDList(list.String)
	if err != nil {
		return nil, false, err
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

// parseUIDList parses group_concat(uid, ','), ascending.
func parseUIDList(list string) ([]uint32, error) {
	var out []uint32
	var v uint32
	digits := false
	for i := 0; i < len(list); i++ {
		c := list[i]
		if c == ',' {
			if digits {
				out = append(out, v)
			}
			v, digits = 0, false
			continue
		}
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("sqlite store: bad uid list")
		}
		v = v*10 + uint32(c-'0')
		digits = true
	}
	if digits {
		out = append(out, v)
	}
	// group_concat keeps the subquery's order in practice; make sure.
	if !slices.IsSorted(out) {
		slices.Sort(out)
	}
	return out, nil
}
