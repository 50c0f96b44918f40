package sqlstore

import (
	"context"
	"fmt"
	"io"

	"pochta/internal/store"
)

// ImportMessage implements store.Importer: it appends the message after
// setting UIDNEXT to its UID, then gives it its modseq. Meant for an
// otherwise idle store (pochta store migrate).
func (s *Store) ImportMessage(ctx context.Context, mailboxID int64, m store.Message, content io.Reader) error {
	if err := s.importExec(ctx, "UPDATE mailboxes SET uidnext = ? WHERE id = ? AND uidnext <= ?", int64(m.UID), mailboxID, int64(m.UID)); err != nil {
		return err
	}
	got, err := s.append.Append(ctx, mailboxID, m.Flags, m.InternalDate, content)
	if err != nil {
		return err
	}
	return s.importExec(ctx, "UPDATE messages SET modseq = ? WHERE mailbox_id = ? AND uid = ?", int64(m.ModSeq), mailboxID, int64(got.UID))
}

// SetMailboxState implements store.Importer.
func (s *Store) SetMailboxState(ctx context.Context, mb store.Mailbox) error {
	return s.importExec(ctx, "UPDATE mailboxes SET uidvalidity = ?, uidnext = ?, highest_modseq = ?, recent_uid = ? WHERE id = ?",
		int64(mb.UIDValidity), int64(mb.UIDNext), int64(mb.HighestModSeq), int64(mb.RecentWatermark), mb.ID)
}

// ImportExpunged implements store.Importer.
func (s *Store) ImportExpunged(ctx context.Context, mailboxID int64, expunged map[uint32]uint64) error {
	return s.dbErr(s.write(ctx, func(tx DB) error {
		for uid, modseq := range expunged {
			if _, err := tx.ExecContext(bg, "INSERT INTO expunged(mailbox_id, uid, modseq) VALUES(?, ?, ?)", mailboxID, int64(uid), int64(modseq)); err != nil {
				return err
			}
		}
		return nil
	}))
}

// Expunged implements store.Importer.
func (s *Store) Expunged(ctx context.Context, mailboxID int64) (map[uint32]uint64, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT uid, modseq FROM expunged WHERE mailbox_id = ?", mailboxID)
	if err != nil {
		return nil, s.dbErr(err)
	}
	defer rows.Close()
	m := map[uint32]uint64{}
	for rows.Next() {
		var uid, modseq int64
		if err := rows.Scan(&uid, &modseq); err != nil {
			return nil, s.dbErr(err)
		}
		m[uint32(uid)] = uint64(modseq)
	}
	return m, s.dbErr(rows.Err())
}

// importExec runs one statement that must change exactly one row.
func (s *Store) importExec(ctx context.Context, query string, args ...any) error {
	return s.dbErr(s.write(ctx, func(tx DB) error {
		res, err := tx.ExecContext(bg, query, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: import: %d rows for %q", store.ErrNotFound, n, query)
		}
		return nil
	}))
}
