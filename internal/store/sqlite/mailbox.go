package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"pochta/internal/store"
	"pochta/internal/store/names"
	"pochta/internal/store/sqlstore"
)

// mailboxCols are the columns scanMailbox reads from the mailboxes table;
// Subscribed comes from the subscriptions table.
const mailboxCols = "id, account_id, name, special_use, uidvalidity, uidnext, highest_modseq, " +
	"EXISTS(SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name), recent_uid"

// maxSubscriptions bounds the subscription list of one account: names
// need not exist, so without a bound a client could grow it forever.
const maxSubscriptions = 10000

func scanMailbox(sc interface{ Scan(...any) error }) (store.Mailbox, error) {
	var m store.Mailbox
	var uv, un, ru int64
	var hm int64
	err := sc.Scan(&m.ID, &m.AccountID, &m.Name, &m.SpecialUse, &uv, &un, &hm, &m.Subscribed, &ru)
	m.UIDValidity, m.UIDNext, m.HighestModSeq, m.RecentWatermark = uint32(uv), uint32(un), uint64(hm), uint32(ru)
	return m, err
}

// mailboxByName finds a mailbox; name must be normalised.
func mailboxByName(ctx context.Context, q querier, accountID int64, name string) (store.Mailbox, error) {
	m, err := scanMailbox(q.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE account_id = ? AND name = ?", accountID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("%w: mailbox %q", store.ErrNotFound, names.Truncate(name))
	}
	return m, err
}

func mailboxByID(ctx context.Context, q querier, id int64) (store.Mailbox, error) {
	m, err := scanMailbox(q.QueryRowContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("%w: mailbox %d", store.ErrNotFound, id)
	}
	return m, err
}

// nextUIDValidity allocates a UIDVALIDITY never used before in this store:
// the current time in seconds, or one more than the last one handed out.
func nextUIDValidity(tx *wtx) (uint32, error) {
	var last int64
	err := tx.QueryRowContext(bg, "SELECT value FROM meta WHERE key = 'uidvalidity'").Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	v := last + 1
	if now := time.Now().Unix(); now > v {
		v = now
	}
	if v > 0xffffffff {
		v = 1
	}
	_, err = tx.ExecContext(bg, "INSERT INTO meta(key, value) VALUES('uidvalidity', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", v)
	return uint32(v), err
}

// createMailbox inserts one mailbox; name must be normalised. subscribe
// also subscribes the name (an account's default mailboxes, folders that
// delivery creates); IMAP CREATE does not (RFC 9051 §6.3.4).
func createMailbox(tx *wtx, accountID int64, name, specialUse string, subscribe bool) (store.Mailbox, error) {
	ok, err := sqlstore.Exists(bg, tx, "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", accountID, name)
	if err != nil {
		return store.Mailbox{}, err
	}
	if ok {
		return store.Mailbox{}, fmt.Errorf("%w: mailbox %q", store.ErrExists, names.Truncate(name))
	}
	uv, err := nextUIDValidity(tx)
	if err != nil {
		return store.Mailbox{}, err
	}
	m := store.Mailbox{AccountID: accountID, Name: name, SpecialUse: specialUse, UIDValidity: uv, UIDNext: 1, HighestModSeq: 1}
	res, err := tx.ExecContext(bg, "INSERT INTO mailboxes(account_id, name, special_use, uidvalidity, uidnext, highest_modseq) VALUES(?, ?, ?, ?, 1, 1)",
		accountID, name, specialUse, int64(uv))
	if err != nil {
		return m, err
	}
	if m.ID, err = res.LastInsertId(); err != nil {
		return m, err
	}
	if subscribe {
		if err := setSubscribed(tx, accountID, name, true); err != nil {
			return m, err
		}
	}
	m.Subscribed, err = sqlstore.Exists(bg, tx, "SELECT 1 FROM subscriptions WHERE account_id = ? AND name = ?", accountID, name)
	return m, err
}

// setSubscribed adds name to or removes it from the account's
// subscriptions; name must be normalised and need not exist.
func setSubscribed(tx *wtx, accountID int64, name string, on bool) error {
	if !on {
		_, err := tx.ExecContext(bg, "DELETE FROM subscriptions WHERE account_id = ? AND name = ?", accountID, name)
		return err
	}
	var n int
	if err := tx.QueryRowContext(bg, "SELECT count(*) FROM subscriptions WHERE account_id = ?", accountID).Scan(&n); err != nil {
		return err
	}
	if n >= maxSubscriptions {
		ok, err := sqlstore.Exists(bg, tx, "SELECT 1 FROM subscriptions WHERE account_id = ? AND name = ?", accountID, name)
		if err != nil || ok {
			return err
		}
		return fmt.Errorf("%w: more than %d subscriptions", store.ErrOverQuota, maxSubscriptions)
	}
	_, err := tx.ExecContext(bg, "INSERT OR IGNORE INTO subscriptions(account_id, name) VALUES(?, ?)", accountID, name)
	return err
}

// createParents creates missing superior mailboxes of name (RFC 9051
// §6.3.4: the server SHOULD create them).
func createParents(tx *wtx, e *effects, accountID int64, name string) error {
	for _, p := range names.Parents(name) {
		ok, err := sqlstore.Exists(bg, tx, "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", accountID, p)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		m, err := createMailbox(tx, accountID, p, "", false)
		if err != nil {
			return err
		}
		e.changed(accountID, m.ID)
	}
	return nil
}

// ListMailboxes implements store.Mailstore: INBOX first, then by name.
func (s *Store) ListMailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+mailboxCols+" FROM mailboxes WHERE account_id = ? ORDER BY name != 'INBOX', name", accountID)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	var out []store.Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, dbErr(err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr(err)
	}
	if len(out) == 0 {
		if err := sqlstore.AccountExists(ctx, s.rdb, accountID); err != nil {
			return nil, dbErr(err)
		}
	}
	return out, nil
}

// GetMailbox implements store.Mailstore.
func (s *Store) GetMailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error) {
	n, err := names.Norm(name)
	if err != nil {
		return store.Mailbox{}, fmt.Errorf("%w: mailbox %q", store.ErrNotFound, names.Truncate(name))
	}
	m, err := mailboxByName(ctx, s.rdb, accountID, n)
	return m, dbErr(err)
}

// CreateMailbox implements store.Mailstore. Missing superior mailboxes are
// created too.
func (s *Store) CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (store.Mailbox, error) {
	n, err := names.Norm(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	var m store.Mailbox
	err = s.write(ctx, nil, func(tx *wtx, e *effects) error {
		if err := sqlstore.AccountExists(bg, tx, accountID); err != nil {
			return err
		}
		if err := createParents(tx, e, accountID, n); err != nil {
			return err
		}
		var err error
		m, err = createMailbox(tx, accountID, n, specialUse, false)
		if err != nil {
			return err
		}
		e.changed(accountID, m.ID)
		return nil
	})
	return m, dbErr(err)
}

// DeleteMailbox implements store.Mailstore.
func (s *Store) DeleteMailbox(ctx context.Context, accountID int64, name string) error {
	n, err := names.Norm(name)
	if err != nil {
		return fmt.Errorf("%w: mailbox %q", store.ErrNotFound, names.Truncate(name))
	}
	if n == "INBOX" {
		return fmt.Errorf("%w: INBOX cannot be deleted", store.ErrInvalidName)
	}
	return dbErr(s.write(ctx, nil, func(tx *wtx, e *effects) error {
		m, err := mailboxByName(bg, tx, accountID, n)
		if err != nil {
			return err
		}
		return dropMailbox(tx, e, accountID, m.ID)
	}))
}

// dropMailbox deletes a mailbox with its messages, releasing their blobs
// and quota.
func dropMailbox(tx *wtx, e *effects, accountID, mailboxID int64) error {
	rows, err := tx.QueryContext(bg, "SELECT blob_id, count(*) FROM messages WHERE mailbox_id = ? GROUP BY blob_id", mailboxID)
	if err != nil {
		return err
	}
	type ref struct{ id, n int64 }
	var refs []ref
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.id, &r.n); err != nil {
			rows.Close()
			return err
		}
		refs = append(refs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var size int64
	if err := tx.QueryRowContext(bg, "SELECT size FROM mailboxes WHERE id = ?", mailboxID).Scan(&size); err != nil {
		return err
	}
	if _, err := tx.ExecContext(bg, "DELETE FROM messages WHERE mailbox_id = ?", mailboxID); err != nil {
		return err
	}
	for _, r := range refs {
		if err := releaseBlob(tx, e, r.id, r.n); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(bg, "UPDATE accounts SET used = max(used - ?, 0) WHERE id = ?", size, accountID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(bg, "DELETE FROM mailboxes WHERE id = ?", mailboxID); err != nil {
		return err
	}
	e.changed(accountID, mailboxID)
	return nil
}

// releaseBlob drops n references to a blob, deleting it (row, index, and
// after commit its file) when none remain.
func releaseBlob(tx *wtx, e *effects, id, n int64) error {
	var refs int64
	err := tx.QueryRowContext(bg, "UPDATE blobs SET refs = refs - ? WHERE id = ? RETURNING refs", n, id).Scan(&refs)
	if err != nil {
		return err
	}
	if refs > 0 {
		return nil
	}
	res, err := tx.ExecContext(bg, "DELETE FROM index_queue WHERE blob_id = ?", id)
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k > 0 {
		e.unqueued++
	}
	for _, q := range []string{"DELETE FROM search WHERE rowid = ?", "DELETE FROM headers WHERE blob_id = ?", "DELETE FROM blob_data WHERE id = ?", "DELETE FROM blobs WHERE id = ?"} {
		if _, err := tx.ExecContext(bg, q, id); err != nil {
			return err
		}
	}
	e.removeBlobs = append(e.removeBlobs, id)
	return nil
}

// RenameMailbox implements store.Mailstore.
func (s *Store) RenameMailbox(ctx context.Context, accountID int64, oldName, newName string) error {
	on, err := names.Norm(oldName)
	if err != nil {
		return fmt.Errorf("%w: mailbox %q", store.ErrNotFound, names.Truncate(oldName))
	}
	nn, err := names.Norm(newName)
	if err != nil {
		return err
	}
	if nn == on {
		return fmt.Errorf("%w: mailbox %q", store.ErrExists, names.Truncate(nn))
	}
	if strings.HasPrefix(nn, on+store.Delimiter) {
		return fmt.Errorf("%w: cannot rename a mailbox into itself", store.ErrInvalidName)
	}
	return dbErr(s.write(ctx, nil, func(tx *wtx, e *effects) error {
		src, err := mailboxByName(bg, tx, accountID, on)
		if err != nil {
			return err
		}
		ok, err := sqlstore.Exists(bg, tx, "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", accountID, nn)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("%w: mailbox %q", store.ErrExists, names.Truncate(nn))
		}
		if on == "INBOX" {
			return renameInbox(tx, e, src, nn)
		}
		// Children move along: collect them first so clashes are found
		// before anything changes.
		rows, err := tx.QueryContext(bg, "SELECT id, name FROM mailboxes WHERE account_id = ?", accountID)
		if err != nil {
			return err
		}
		type mv struct {
			id   int64
			name string
		}
		moves := []mv{{src.ID, nn}}
		for rows.Next() {
			var m mv
			if err := rows.Scan(&m.id, &m.name); err != nil {
				rows.Close()
				return err
			}
			if !strings.HasPrefix(m.name, on+store.Delimiter) {
				continue
			}
			m.name = nn + m.name[len(on):]
			moves = append(moves, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range moves {
			if len(m.name) > names.MaxLen {
				return fmt.Errorf("%w: renamed child name too long", store.ErrInvalidName)
			}
			if m.id == src.ID {
				continue
			}
			ok, err := sqlstore.Exists(bg, tx, "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", accountID, m.name)
			if err != nil {
				return err
			}
			if ok {
				return fmt.Errorf("%w: mailbox %q", store.ErrExists, names.Truncate(m.name))
			}
		}
		// Two passes through temporary names avoid transient UNIQUE
		// clashes between moved mailboxes.
		for _, m := range moves {
			if _, err := tx.ExecContext(bg, "UPDATE mailboxes SET name = ? WHERE id = ?", fmt.Sprintf("\x00rename\x00%d", m.id), m.id); err != nil {
				return err
			}
		}
		for _, m := range moves {
			if _, err := tx.ExecContext(bg, "UPDATE mailboxes SET name = ? WHERE id = ?", m.name, m.id); err != nil {
				return err
			}
			e.changed(accountID, m.id)
		}
		if err := renameSubscriptions(tx, accountID, on, nn); err != nil {
			return err
		}
		return createParents(tx, e, accountID, nn)
	}))
}

// renameSubscriptions makes the subscriptions of a renamed mailbox and
// of the names below it follow the rename, as they did when a
// subscription was a property of its mailbox.
func renameSubscriptions(tx *wtx, accountID int64, oldName, newName string) error {
	// The list is bounded (maxSubscriptions); filtering here avoids
	// SQLite's character-based substr and LIKE's wildcards.
	all, err := queryStrings(bg, tx, "SELECT name FROM subscriptions WHERE account_id = ?", accountID)
	if err != nil {
		return err
	}
	var subs []string
	for _, n := range all {
		if n == oldName || strings.HasPrefix(n, oldName+store.Delimiter) {
			subs = append(subs, n)
		}
	}
	for _, n := range subs {
		if _, err := tx.ExecContext(bg, "DELETE FROM subscriptions WHERE account_id = ? AND name = ?", accountID, n); err != nil {
			return err
		}
	}
	for _, n := range subs {
		renamed := newName + n[len(oldName):]
		if len(renamed) > names.MaxLen {
			continue // only a name without a mailbox can get here
		}
		if _, err := tx.ExecContext(bg, "INSERT OR IGNORE INTO subscriptions(account_id, name) VALUES(?, ?)", accountID, renamed); err != nil {
			return err
		}
	}
	return nil
}

// renameInbox moves every INBOX message into a new mailbox, leaving INBOX
// empty (RFC 9051 §6.3.6). INBOX's children are not renamed.
func renameInbox(tx *wtx, e *effects, inbox store.Mailbox, newName string) error {
	if err := createParents(tx, e, inbox.AccountID, newName); err != nil {
		return err
	}
	dst, err := createMailbox(tx, inbox.AccountID, newName, "", false)
	if err != nil {
		return err
	}
	e.changed(inbox.AccountID, dst.ID)
	_, err = moveMessages(tx, e, inbox, names.UIDFilter{All: true}, dst)
	return err
}

// SetSubscribed implements store.Mailstore: any valid name can be
// subscribed, whether or not a mailbox has it.
func (s *Store) SetSubscribed(ctx context.Context, accountID int64, name string, subscribed bool) error {
	n, err := names.Norm(name)
	if err != nil {
		return err
	}
	return dbErr(s.write(ctx, nil, func(tx *wtx, e *effects) error {
		if err := sqlstore.AccountExists(bg, tx, accountID); err != nil {
			return err
		}
		return setSubscribed(tx, accountID, n, subscribed)
	}))
}

// Subscriptions implements store.Mailstore.
func (s *Store) Subscriptions(ctx context.Context, accountID int64) ([]string, error) {
	names, err := queryStrings(ctx, s.rdb, "SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name", accountID)
	return names, dbErr(err)
}

// queryStrings runs a query of one text column and returns its values.
func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Status implements store.Mailstore; the counters are maintained on every
// change, so this is one row lookup.
func (s *Store) Status(ctx context.Context, mailboxID int64) (store.MailboxStatus, error) {
	var st store.MailboxStatus
	var uv, un, hm, ru int64
	var msgs, unseen, del, recent int64
	// The recent count is a primary-key range scan over the unclaimed
	// messages only.
	err := s.rdb.QueryRowContext(ctx, "SELECT "+mailboxCols+", n_messages, n_unseen, n_deleted, size, "+
		"(SELECT count(*) FROM messages WHERE mailbox_id = mailboxes.id AND uid > mailboxes.recent_uid) FROM mailboxes WHERE id = ?", mailboxID).Scan(
		&st.ID, &st.AccountID, &st.Name, &st.SpecialUse, &uv, &un, &hm, &st.Subscribed, &ru, &msgs, &unseen, &del, &st.Size, &recent)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("%w: mailbox %d", store.ErrNotFound, mailboxID)
	}
	st.UIDValidity, st.UIDNext, st.HighestModSeq, st.RecentWatermark = uint32(uv), uint32(un), uint64(hm), uint32(ru)
	st.Messages, st.Unseen, st.Deleted, st.Recent = uint32(msgs), uint32(unseen), uint32(del), uint32(recent)
	return st, dbErr(err)
}

// FirstUnseen implements store.Mailstore with the partial index of unseen
// messages (messages_unseen).
func (s *Store) FirstUnseen(ctx context.Context, mailboxID int64) (uint32, error) {
	var uid sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, "SELECT min(uid) FROM messages INDEXED BY messages_unseen WHERE mailbox_id = ? AND seen = 0", mailboxID).Scan(&uid)
	if err != nil {
		return 0, dbErr(err)
	}
	if !uid.Valid {
		return 0, s.mailboxExists(ctx, mailboxID)
	}
	return uint32(uid.Int64), nil
}

// ClaimRecent implements store.Mailstore. When nothing arrived since the
// last claim it answers from the read pool without a write (and so without
// an fsync), which is what most SELECTs see; otherwise the claim goes
// through the committer, whose single writer makes it atomic. A claim
// changes no message, so watchers are not notified.
func (s *Store) ClaimRecent(ctx context.Context, mailboxID int64) (uint32, uint32, error) {
	var mark, next int64
	err := s.rdb.QueryRowContext(ctx, "SELECT recent_uid, uidnext FROM mailboxes WHERE id = ?", mailboxID).Scan(&mark, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("%w: mailbox %d", store.ErrNotFound, mailboxID)
	}
	if err != nil {
		return 0, 0, dbErr(err)
	}
	if mark >= next-1 {
		return uint32(next), uint32(next), nil
	}
	err = s.write(ctx, nil, func(tx *wtx, e *effects) error {
		err := tx.QueryRowContext(bg, "SELECT recent_uid, uidnext FROM mailboxes WHERE id = ?", mailboxID).Scan(&mark, &next)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: mailbox %d", store.ErrNotFound, mailboxID)
		}
		if err != nil {
			return err
		}
		if mark >= next-1 {
			mark = next - 1
			return nil
		}
		_, err = tx.ExecContext(bg, "UPDATE mailboxes SET recent_uid = ? WHERE id = ?", next-1, mailboxID)
		return err
	})
	if err != nil {
		return 0, 0, dbErr(err)
	}
	return uint32(mark + 1), uint32(next), nil
}

// QuotaUsage implements store.Mailstore.
func (s *Store) QuotaUsage(ctx context.Context, accountID int64) (int64, int64, error) {
	var used, limit int64
	err := s.rdb.QueryRowContext(ctx, "SELECT used, quota FROM accounts WHERE id = ?", accountID).Scan(&used, &limit)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	}
	return used, limit, dbErr(err)
}

// sortUIDs sorts in place and returns s.
func sortUIDs(s []uint32) []uint32 {
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}
