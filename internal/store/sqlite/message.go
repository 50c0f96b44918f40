package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"pochta/internal/store"
	"pochta/internal/store/identity"
	"pochta/internal/store/names"
	"pochta/internal/store/searchindex"
)

// msgRow is a message row as loaded inside a write transaction.
type msgRow struct {
	uid     uint32
	modseq  uint64
	flags   []string
	date    int64
	size    int64
	blob    int64
	seen    bool
	deleted bool
	// emailID and threadID are the JMAP identity (store.EmailRef).
	emailID, threadID int64
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// delta is a change to a mailbox's counters.
type delta struct{ msgs, unseen, deleted, size int64 }

func (d *delta) add(flags []string, size int64, sign int64) {
	d.msgs += sign
	d.size += sign * size
	if !names.HasFlag(flags, `\Seen`) {
		d.unseen += sign
	}
	if names.HasFlag(flags, `\Deleted`) {
		d.deleted += sign
	}
}

// updateMailbox stores a mailbox's new UIDNEXT, HIGHESTMODSEQ and counters.
func updateMailbox(tx *wtx, id int64, uidnext uint32, modseq uint64, d delta) error {
	_, err := tx.ExecContext(bg, `UPDATE mailboxes SET uidnext = ?, highest_modseq = ?,
		n_messages = n_messages + ?, n_unseen = n_unseen + ?, n_deleted = n_deleted + ?, size = size + ?
		WHERE id = ?`, int64(uidnext), int64(modseq), d.msgs, d.unseen, d.deleted, d.size, id)
	return err
}

// chargeQuota adds bytes to an account's usage, failing with ErrOverQuota
// if a limit would be exceeded.
func chargeQuota(tx *wtx, accountID, bytes int64) error {
	var used, limit int64
	err := tx.QueryRowContext(bg, "SELECT used, quota FROM accounts WHERE id = ?", accountID).Scan(&used, &limit)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	}
	if err != nil {
		return err
	}
	if bytes > 0 && limit > 0 && used+bytes > limit {
		return fmt.Errorf("%w: account %d uses %d of %d bytes", store.ErrOverQuota, accountID, used, limit)
	}
	_, err = tx.ExecContext(bg, "UPDATE accounts SET used = max(used + ?, 0) WHERE id = ?", bytes, accountID)
	return err
}

const insertMsg = "INSERT INTO messages(mailbox_id, uid, modseq, flags, seen, deleted, internal_date, size, blob_id, email_id, thread_id) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

func insertMessage(tx *wtx, mailboxID int64, m msgRow) error {
	_, err := tx.ExecContext(bg, insertMsg, mailboxID, int64(m.uid), int64(m.modseq), names.JoinFlags(m.flags),
		b2i(names.HasFlag(m.flags, `\Seen`)), b2i(names.HasFlag(m.flags, `\Deleted`)), m.date, m.size, m.blob, m.emailID, m.threadID)
	return err
}

func checkUIDSpace(m store.Mailbox, n int) error {
	if uint64(m.UIDNext)+uint64(n) > 0xffffffff {
		return fmt.Errorf("sqlite store: mailbox %d has run out of UIDs", m.ID)
	}
	return nil
}

// Deliver implements store.Mailstore.
func (s *Store) Deliver(ctx context.Context, content io.Reader, targets []store.Target) ([]store.Delivered, error) {
	if len(targets) == 0 {
		return nil, errors.New("sqlite store: deliver without targets")
	}
	boxes := make([]string, len(targets))
	flags := make([][]string, len(targets))
	for i, t := range targets {
		n := t.Mailbox
		if n == "" {
			n = "INBOX"
		}
		var err error
		if boxes[i], err = names.Norm(n); err != nil {
			return nil, err
		}
		flags[i] = names.NormFlags(t.Flags)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := s.writeBlob(content)
	if err != nil {
		return nil, err
	}
	idx := searchindex.Header(b.reader()) // the body is indexed later (indexer.go)
	b.close(false)
	keys := idx.ThreadKeys()
	now := nowNano()
	var out []store.Delivered
	err = s.write(ctx, b.files(), func(tx *wtx, e *effects) error {
		out = out[:0]
		charge := map[int64]int64{}
		var order []int64
		for _, t := range targets {
			if _, ok := charge[t.AccountID]; !ok {
				order = append(order, t.AccountID)
			}
			charge[t.AccountID] += b.size
		}
		for _, acc := range order {
			if err := chargeQuota(tx, acc, charge[acc]); err != nil {
				return err
			}
		}
		if err := insertBlob(tx, e, b, int64(len(targets))); err != nil {
			return err
		}
		emailIDs, err := nextEmailIDs(tx, len(targets))
		if err != nil {
			return err
		}
		threads := map[int64]int64{} // per account
		for i, t := range targets {
			mb, err := mailboxByName(bg, tx, t.AccountID, boxes[i])
			if errors.Is(err, store.ErrNotFound) {
				if err := createParents(tx, e, t.AccountID, boxes[i]); err != nil {
					return err
				}
				mb, err = createMailbox(tx, t.AccountID, boxes[i], "", true)
			}
			if err != nil {
				return err
			}
			if err := checkUIDSpace(mb, 1); err != nil {
				return err
			}
			m := msgRow{uid: mb.UIDNext, modseq: mb.HighestModSeq + 1, flags: flags[i], date: now, size: b.size, blob: b.id,
				emailID: emailIDs[i], threadID: threads[t.AccountID]}
			if m.threadID == 0 {
				if m.threadID, err = identity.AssignThread(tx, t.AccountID, keys, m.emailID); err != nil {
					return err
				}
				threads[t.AccountID] = m.threadID
			}
			if err := insertMessage(tx, mb.ID, m); err != nil {
				return err
			}
			var d delta
			d.add(m.flags, m.size, 1)
			if err := updateMailbox(tx, mb.ID, mb.UIDNext+1, m.modseq, d); err != nil {
				return err
			}
			out = append(out, store.Delivered{MailboxID: mb.ID, UID: m.uid})
			e.changed(t.AccountID, mb.ID)
		}
		return nil
	})
	if err != nil {
		b.close(true)
		return nil, dbErr(err)
	}
	return out, nil
}

// Append implements store.Mailstore.
func (s *Store) Append(ctx context.Context, mailboxID int64, flags []string, date time.Time, content io.Reader) (store.Message, error) {
	if err := ctx.Err(); err != nil {
		return store.Message{}, err
	}
	if _, err := mailboxByID(ctx, s.rdb, mailboxID); err != nil {
		return store.Message{}, dbErr(err)
	}
	fl := names.NormFlags(flags)
	if date.IsZero() {
		date = time.Now()
	}
	b, err := s.writeBlob(content)
	if err != nil {
		return store.Message{}, err
	}
	idx := searchindex.Header(b.reader()) // the body is indexed later (indexer.go)
	b.close(false)
	keys := idx.ThreadKeys()
	var msg store.Message
	err = s.write(ctx, b.files(), func(tx *wtx, e *effects) error {
		mb, err := mailboxByID(bg, tx, mailboxID)
		if err != nil {
			return err
		}
		if err := checkUIDSpace(mb, 1); err != nil {
			return err
		}
		if err := chargeQuota(tx, mb.AccountID, b.size); err != nil {
			return err
		}
		if err := insertBlob(tx, e, b, 1); err != nil {
			return err
		}
		m := msgRow{uid: mb.UIDNext, modseq: mb.HighestModSeq + 1, flags: fl, date: date.UnixNano(), size: b.size, blob: b.id}
		ids, err := nextEmailIDs(tx, 1)
		if err != nil {
			return err
		}
		m.emailID = ids[0]
		if m.threadID, err = identity.AssignThread(tx, mb.AccountID, keys, m.emailID); err != nil {
			return err
		}
		if err := insertMessage(tx, mb.ID, m); err != nil {
			return err
		}
		var d delta
		d.add(m.flags, m.size, 1)
		if err := updateMailbox(tx, mb.ID, mb.UIDNext+1, m.modseq, d); err != nil {
			return err
		}
		msg = m.message(mb.ID)
		e.changed(mb.AccountID, mb.ID)
		return nil
	})
	if err != nil {
		b.close(true)
		return store.Message{}, dbErr(err)
	}
	return msg, nil
}

// UIDs implements store.Mailstore.
func (s *Store) UIDs(ctx context.Context, mailboxID int64) ([]uint32, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr(err)
	}
	defer tx.Rollback()
	var n int64
	err = tx.QueryRowContext(ctx, "SELECT n_messages FROM mailboxes WHERE id = ?", mailboxID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: mailbox %d", store.ErrNotFound, mailboxID)
	}
	if err != nil {
		return nil, dbErr(err)
	}
	// A mailbox without holes (nothing ever expunged, e.g. an imported
	// archive) is min..max: two primary-key seeks and the counter, read
	// in this transaction, instead of a walk over every message.
	if n > 0 {
		var lo, hi int64
		err = tx.QueryRowContext(ctx, "SELECT (SELECT min(uid) FROM messages WHERE mailbox_id = ?1), (SELECT max(uid) FROM messages WHERE mailbox_id = ?1)", mailboxID).Scan(&lo, &hi)
		if err == nil && hi-lo+1 == n {
			out := make([]uint32, n)
			for i := range out {
				out[i] = uint32(lo) + uint32(i)
			}
			return out, nil
		}
		// With holes: min..max without the expunged UIDs, when provably
		// right (uidsFromHoles).
		if err == nil {
			out, ok, err := uidsFromHoles(ctx, tx, mailboxID, lo, hi, n)
			if err != nil {
				return nil, dbErr(err)
			}
			if ok {
				return out, nil
			}
		}
	}
	// One row holding every UID as text: far cheaper than a row per
	// message through database/sql.
	var list sql.NullString
	err = tx.QueryRowContext(ctx, "SELECT group_concat(uid, ',') FROM (SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid)", mailboxID).Scan(&list)
	if err != nil {
		return nil, dbErr(err)
	}
	out, err := names.ParseUIDList(list.String, int(n))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	return out, nil
}

// setClause returns a SQL condition on column uid for f and whether rows
// must additionally be filtered with f.contains. Small sets become exact
// range conditions; large ones a bounding range.
func setClause(f names.UIDFilter) (string, []any, bool) {
	if f.All {
		return "1", nil, false
	}
	if len(f.Ranges) <= 32 {
		parts := make([]string, len(f.Ranges))
		args := make([]any, 0, 2*len(f.Ranges))
		for i, r := range f.Ranges {
			parts[i] = "uid BETWEEN ? AND ?"
			args = append(args, int64(r.Start), int64(r.Stop))
		}
		return "(" + strings.Join(parts, " OR ") + ")", args, false
	}
	lo, hi := f.Bounds()
	return "uid BETWEEN ? AND ?", []any{int64(lo), int64(hi)}, true
}

const msgCols = "uid, modseq, flags, internal_date, size, blob_id, email_id, thread_id"

func scanMsgRow(rows *sql.Rows) (msgRow, error) {
	var m msgRow
	var uid, modseq int64
	var flags string
	err := rows.Scan(&uid, &modseq, &flags, &m.date, &m.size, &m.blob, &m.emailID, &m.threadID)
	m.uid, m.modseq, m.flags = uint32(uid), uint64(modseq), names.SplitFlags(flags)
	m.seen = names.HasFlag(m.flags, `\Seen`)
	m.deleted = names.HasFlag(m.flags, `\Deleted`)
	return m, err
}

func (m msgRow) message(mailboxID int64) store.Message {
	return store.Message{MailboxID: mailboxID, UID: m.uid, ModSeq: m.modseq, Flags: m.flags, InternalDate: fromNano(m.date), Size: m.size,
		EmailID: m.emailID, ThreadID: m.threadID}
}

// Messages implements store.Mailstore.
func (s *Store) Messages(ctx context.Context, mailboxID int64, set store.UIDSet, fn func(store.Message) error) error {
	f := names.NewUIDFilter(set)
	if f.Empty() {
		return s.mailboxExists(ctx, mailboxID)
	}
	cond, args, filter := setClause(f)
	st, err := s.readStmt(ctx, "SELECT "+msgCols+" FROM messages WHERE mailbox_id = ? AND "+cond+" ORDER BY uid")
	if err != nil {
		return dbErr(err)
	}
	rows, err := st.QueryContext(ctx, append([]any{mailboxID}, args...)...)
	if err != nil {
		return dbErr(err)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		m, err := scanMsgRow(rows)
		if err != nil {
			return dbErr(err)
		}
		found = true
		if filter && !f.Contains(m.uid) {
			continue
		}
		if err := fn(m.message(mailboxID)); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return dbErr(err)
	}
	if !found {
		// Only an empty result can come from a missing mailbox: its
		// messages go with it (ON DELETE CASCADE), so a row proves the
		// mailbox exists and the lookup is skipped on the common path.
		return s.mailboxExists(ctx, mailboxID)
	}
	return nil
}

// mailboxExists returns store.ErrNotFound when no mailbox has the id.
func (s *Store) mailboxExists(ctx context.Context, mailboxID int64) error {
	if _, err := mailboxByID(ctx, s.rdb, mailboxID); err != nil {
		return dbErr(err)
	}
	return nil
}

// loadMessages reads the rows in f, ascending, inside a transaction.
func loadMessages(tx *wtx, mailboxID int64, f names.UIDFilter, extra string) ([]msgRow, error) {
	if f.Empty() {
		return nil, nil
	}
	cond, args, filter := setClause(f)
	rows, err := tx.QueryContext(bg, "SELECT "+msgCols+" FROM messages WHERE mailbox_id = ? AND "+cond+extra+" ORDER BY uid", append([]any{mailboxID}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []msgRow
	for rows.Next() {
		m, err := scanMsgRow(rows)
		if err != nil {
			return nil, err
		}
		if filter && !f.Contains(m.uid) {
			continue
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Open implements store.Mailstore.
func (s *Store) Open(ctx context.Context, mailboxID int64, uid uint32) (io.ReadSeekCloser, error) {
	var blob int64
	var inline bool
	var data []byte
	st, err := s.readStmt(ctx, "SELECT m.blob_id, d.id IS NOT NULL, d.data FROM messages m LEFT JOIN blob_data d ON d.id = m.blob_id WHERE m.mailbox_id = ? AND m.uid = ?")
	if err != nil {
		return nil, dbErr(err)
	}
	err = st.QueryRowContext(ctx, mailboxID, int64(uid)).Scan(&blob, &inline, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: message %d/%d", store.ErrNotFound, mailboxID, uid)
	}
	if err != nil {
		return nil, dbErr(err)
	}
	if inline {
		return inlineBlob{bytes.NewReader(data)}, nil
	}
	f, err := os.Open(s.blobPath(blob))
	if errors.Is(err, os.ErrNotExist) {
		// Expunged between the lookup and the open.
		return nil, fmt.Errorf("%w: message %d/%d", store.ErrNotFound, mailboxID, uid)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite store: opening message: %w", err)
	}
	return f, nil
}

// inlineBlob is a content kept in the database (see inlineMax).
type inlineBlob struct{ *bytes.Reader }

func (inlineBlob) Close() error { return nil }

// SetFlags implements store.Mailstore. Only messages whose flags actually
// change get a new ModSeq and are returned in changed.
func (s *Store) SetFlags(ctx context.Context, mailboxID int64, set store.UIDSet, op store.FlagOp, flags []string, unchangedSince uint64) ([]store.Message, []uint32, error) {
	f := names.NewUIDFilter(set)
	fl := names.NormFlags(flags)
	var changed []store.Message
	var failed []uint32
	err := s.write(ctx, nil, func(tx *wtx, e *effects) error {
		changed, failed = nil, nil
		mb, err := mailboxByID(bg, tx, mailboxID)
		if err != nil {
			return err
		}
		rows, err := loadMessages(tx, mailboxID, f, "")
		if err != nil {
			return err
		}
		modseq := mb.HighestModSeq + 1
		var d delta
		for _, m := range rows {
			if unchangedSince > 0 && m.modseq > unchangedSince {
				failed = append(failed, m.uid)
				continue
			}
			nf := names.ApplyFlags(m.flags, op, fl)
			if names.SameFlags(nf, m.flags) {
				continue
			}
			d.add(m.flags, 0, -1)
			d.add(nf, 0, 1)
			if _, err := tx.ExecContext(bg, "UPDATE messages SET flags = ?, seen = ?, deleted = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
				names.JoinFlags(nf), b2i(names.HasFlag(nf, `\Seen`)), b2i(names.HasFlag(nf, `\Deleted`)), int64(modseq), mailboxID, int64(m.uid)); err != nil {
				return err
			}
			m.flags, m.modseq = nf, modseq
			changed = append(changed, m.message(mailboxID))
		}
		if len(changed) == 0 {
			return nil
		}
		e.changed(mb.AccountID, mb.ID)
		return updateMailbox(tx, mb.ID, mb.UIDNext, modseq, d)
	})
	if err != nil {
		return nil, nil, dbErr(err)
	}
	return changed, failed, nil
}

// sameAccount loads src and dst and checks they belong to one account.
func sameAccount(tx *wtx, src, dst int64) (store.Mailbox, store.Mailbox, error) {
	s, err := mailboxByID(bg, tx, src)
	if err != nil {
		return s, s, err
	}
	d, err := mailboxByID(bg, tx, dst)
	if err != nil {
		return s, d, err
	}
	if s.AccountID != d.AccountID {
		return s, d, fmt.Errorf("%w: mailbox %d", store.ErrNotFound, dst)
	}
	return s, d, nil
}

// insertCopies adds rows as new messages of dst with fresh UIDs and one
// new ModSeq, returning the UID mapping. A move keeps the rows' Email ids,
// a copy gets new ones (RFC 8621 §4.1.1); both keep the thread.
func insertCopies(tx *wtx, e *effects, rows []msgRow, dst store.Mailbox, move bool) ([]store.UIDPair, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	if err := checkUIDSpace(dst, len(rows)); err != nil {
		return nil, err
	}
	if !move {
		ids, err := nextEmailIDs(tx, len(rows))
		if err != nil {
			return nil, err
		}
		for i := range rows {
			rows[i].emailID = ids[i]
		}
	}
	modseq := dst.HighestModSeq + 1
	uid := dst.UIDNext
	pairs := make([]store.UIDPair, 0, len(rows))
	var d delta
	for _, m := range rows {
		src := m.uid
		m.uid, m.modseq = uid, modseq
		uid++
		if err := insertMessage(tx, dst.ID, m); err != nil {
			return nil, err
		}
		d.add(m.flags, m.size, 1)
		pairs = append(pairs, store.UIDPair{Src: src, Dst: m.uid})
	}
	e.changed(dst.AccountID, dst.ID)
	return pairs, updateMailbox(tx, dst.ID, uid, modseq, d)
}

// removeRows deletes rows from mailbox mb, recording expunge tombstones
// with one new ModSeq. Blob references are left to the caller.
func removeRows(tx *wtx, e *effects, mb store.Mailbox, rows []msgRow) error {
	if len(rows) == 0 {
		return nil
	}
	modseq := mb.HighestModSeq + 1
	var d delta
	for _, m := range rows {
		if _, err := tx.ExecContext(bg, "DELETE FROM messages WHERE mailbox_id = ? AND uid = ?", mb.ID, int64(m.uid)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(bg, "INSERT OR REPLACE INTO expunged(mailbox_id, uid, modseq, email_id, thread_id) VALUES(?, ?, ?, ?, ?)", mb.ID, int64(m.uid), int64(modseq), m.emailID, m.threadID); err != nil {
			return err
		}
		d.add(m.flags, m.size, -1)
	}
	e.changed(mb.AccountID, mb.ID)
	return updateMailbox(tx, mb.ID, mb.UIDNext, modseq, d)
}

// Copy implements store.Mailstore.
func (s *Store) Copy(ctx context.Context, src int64, set store.UIDSet, dst int64) ([]store.UIDPair, error) {
	f := names.NewUIDFilter(set)
	var pairs []store.UIDPair
	err := s.write(ctx, nil, func(tx *wtx, e *effects) error {
		_, dmb, err := sameAccount(tx, src, dst)
		if err != nil {
			return err
		}
		rows, err := loadMessages(tx, src, f, "")
		if err != nil || len(rows) == 0 {
			pairs = nil
			return err
		}
		var total int64
		refs := map[int64]int64{}
		for _, m := range rows {
			total += m.size
			refs[m.blob]++
		}
		if err := chargeQuota(tx, dmb.AccountID, total); err != nil {
			return err
		}
		for id, n := range refs {
			if _, err := tx.ExecContext(bg, "UPDATE blobs SET refs = refs + ? WHERE id = ?", n, id); err != nil {
				return err
			}
		}
		pairs, err = insertCopies(tx, e, rows, dmb, false)
		return err
	})
	if err != nil {
		return nil, dbErr(err)
	}
	return pairs, nil
}

// Move implements store.Mailstore (RFC 6851): copies and expunges the
// sources in one transaction.
func (s *Store) Move(ctx context.Context, src int64, set store.UIDSet, dst int64) ([]store.UIDPair, error) {
	f := names.NewUIDFilter(set)
	var pairs []store.UIDPair
	err := s.write(ctx, nil, func(tx *wtx, e *effects) error {
		smb, dmb, err := sameAccount(tx, src, dst)
		if err != nil {
			return err
		}
		pairs, err = moveMessages(tx, e, smb, f, dmb)
		return err
	})
	if err != nil {
		return nil, dbErr(err)
	}
	return pairs, nil
}

// moveMessages moves the messages of src in f to dst.
func moveMessages(tx *wtx, e *effects, src store.Mailbox, f names.UIDFilter, dst store.Mailbox) ([]store.UIDPair, error) {
	rows, err := loadMessages(tx, src.ID, f, "")
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	pairs, err := insertCopies(tx, e, rows, dst, true)
	if err != nil {
		return nil, err
	}
	if src.ID == dst.ID {
		// Moving within one mailbox gives the messages new UIDs; reload
		// the counters insertCopies changed.
		if src, err = mailboxByID(bg, tx, src.ID); err != nil {
			return nil, err
		}
	}
	return pairs, removeRows(tx, e, src, rows)
}

// Expunge implements store.Mailstore.
func (s *Store) Expunge(ctx context.Context, mailboxID int64, set store.UIDSet) ([]uint32, error) {
	f := names.NewUIDFilter(set)
	var uids []uint32
	err := s.write(ctx, nil, func(tx *wtx, e *effects) error {
		uids = nil
		mb, err := mailboxByID(bg, tx, mailboxID)
		if err != nil {
			return err
		}
		rows, err := loadMessages(tx, mailboxID, f, " AND deleted = 1")
		if err != nil || len(rows) == 0 {
			return err
		}
		if err := removeRows(tx, e, mb, rows); err != nil {
			return err
		}
		var total int64
		refs := map[int64]int64{}
		for _, m := range rows {
			total += m.size
			refs[m.blob]++
			uids = append(uids, m.uid)
		}
		for id, n := range refs {
			if err := releaseBlob(tx, e, id, n); err != nil {
				return err
			}
		}
		return chargeQuota(tx, mb.AccountID, -total)
	})
	if err != nil {
		return nil, dbErr(err)
	}
	return uids, nil
}

// Changes implements store.Mailstore; both lists are read from one
// snapshot.
func (s *Store) Changes(ctx context.Context, mailboxID int64, since uint64) ([]store.Message, []uint32, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, dbErr(err)
	}
	defer tx.Rollback()
	if _, err := mailboxByID(ctx, tx, mailboxID); err != nil {
		return nil, nil, dbErr(err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+msgCols+" FROM messages WHERE mailbox_id = ? AND modseq > ? ORDER BY uid", mailboxID, int64(since))
	if err != nil {
		return nil, nil, dbErr(err)
	}
	var changed []store.Message
	for rows.Next() {
		m, err := scanMsgRow(rows)
		if err != nil {
			rows.Close()
			return nil, nil, dbErr(err)
		}
		changed = append(changed, m.message(mailboxID))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, dbErr(err)
	}
	vrows, err := tx.QueryContext(ctx, "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid", mailboxID, int64(since))
	if err != nil {
		return nil, nil, dbErr(err)
	}
	defer vrows.Close()
	var vanished []uint32
	for vrows.Next() {
		var u int64
		if err := vrows.Scan(&u); err != nil {
			return nil, nil, dbErr(err)
		}
		vanished = append(vanished, uint32(u))
	}
	return changed, vanished, dbErr(vrows.Err())
}
