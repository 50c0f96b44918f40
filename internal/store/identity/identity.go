// Package identity keeps what JMAP needs of a message beyond IMAP's
// mailbox and UID (store.Emails): an Email id that survives a move
// (RFC 8621 §4.1.1) and a thread given at delivery (RFC 8621 §3). The SQL
// here is shared by the sqlite and postgres backends (database/sql with
// "?" placeholders, which store/postgres rebinds); each backend keeps the
// columns email_id and thread_id of messages and expunged and the
// table thread_keys(account_id, key, thread_id).
package identity

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"pochta/internal/store"
	"pochta/internal/store/searchindex"
)

// Querier is a database, transaction or connection.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Execer is a write transaction.
type Execer interface {
	Querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// batch bounds the placeholders of one IN list.
const batch = 500

// inList returns "?, ?, ..." for n values.
func inList(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Refs implements store.Emails.EmailRefs: current messages first, then
// the expunge tombstones of the UIDs not found.
func Refs(ctx context.Context, q Querier, mailboxID int64, uids []uint32) (map[uint32]store.EmailRef, error) {
	out := make(map[uint32]store.EmailRef, len(uids))
	err := refsIn(ctx, q, "SELECT uid, email_id, thread_id FROM messages WHERE mailbox_id = ? AND uid IN ", mailboxID, uids, out)
	if err != nil {
		return nil, err
	}
	var missing []uint32
	for _, u := range uids {
		if _, ok := out[u]; !ok {
			missing = append(missing, u)
		}
	}
	err = refsIn(ctx, q, "SELECT uid, email_id, thread_id FROM expunged WHERE mailbox_id = ? AND email_id != 0 AND uid IN ", mailboxID, missing, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// refsIn runs query (uid, email_id, thread_id) for the UIDs, in batches.
func refsIn(ctx context.Context, q Querier, query string, mailboxID int64, uids []uint32, out map[uint32]store.EmailRef) error {
	for len(uids) > 0 {
		n := min(len(uids), batch)
		args := []any{mailboxID}
		for _, u := range uids[:n] {
			args = append(args, int64(u))
		}
		uids = uids[n:]
		rows, err := q.QueryContext(ctx, query+"("+inList(n)+")", args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var uid int64
			r := store.EmailRef{MailboxID: mailboxID}
			if err := rows.Scan(&uid, &r.EmailID, &r.ThreadID); err != nil {
				rows.Close()
				return err
			}
			r.UID = uint32(uid)
			out[r.UID] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

const refCols = "m.email_id, m.thread_id, m.mailbox_id, m.uid"

// accountBoxes returns the ids of the account's mailboxes. Lookups by
// email_id or thread_id filter by it in Go: a join or a subquery on
// mailboxes makes SQLite scan the account's messages instead of using the
// index.
func accountBoxes(ctx context.Context, q Querier, accountID int64) (map[int64]bool, error) {
	rows, err := q.QueryContext(ctx, "SELECT id FROM mailboxes WHERE account_id = ?", accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

func scanRefs(rows *sql.Rows, fn func(store.EmailRef)) error {
	defer rows.Close()
	for rows.Next() {
		var r store.EmailRef
		var uid int64
		if err := rows.Scan(&r.EmailID, &r.ThreadID, &r.MailboxID, &uid); err != nil {
			return err
		}
		r.UID = uint32(uid)
		fn(r)
	}
	return rows.Err()
}

// Find implements store.Emails.FindEmails.
func Find(ctx context.Context, q Querier, accountID int64, ids []int64) (map[int64]store.EmailRef, error) {
	mine, err := accountBoxes(ctx, q, accountID)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]store.EmailRef, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), batch)
		var args []any
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		ids = ids[n:]
		rows, err := q.QueryContext(ctx, "SELECT "+refCols+" FROM messages m WHERE m.email_id IN ("+inList(n)+")", args...)
		if err != nil {
			return nil, err
		}
		err = scanRefs(rows, func(r store.EmailRef) {
			if mine[r.MailboxID] {
				out[r.EmailID] = r
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Thread implements store.Emails.ThreadEmails.
func Thread(ctx context.Context, q Querier, accountID, threadID int64, limit int) ([]store.EmailRef, error) {
	mine, err := accountBoxes(ctx, q, accountID)
	if err != nil {
		return nil, err
	}
	// A thread's messages are all of one account (threads are given per
	// account; COPY and MOVE stay in the account): the filter is a guard.
	rows, err := q.QueryContext(ctx, "SELECT "+refCols+" FROM messages m WHERE m.thread_id = ? ORDER BY m.internal_date, m.email_id LIMIT ?", threadID, limit)
	if err != nil {
		return nil, err
	}
	var out []store.EmailRef
	err = scanRefs(rows, func(r store.EmailRef) {
		if mine[r.MailboxID] {
			out = append(out, r)
		}
	})
	return out, err
}

// Bounds on what one message contributes to its account's thread keys.
const maxKey = 250

// AssignThread, inside the transaction that stores a new message of the
// account, returns the message's thread, newThread when it starts one,
// and records its keys, so that every backend threads alike (RFC 8621 §3):
//
//   - a message joins the thread of the nearest of its parents that is
//     known, else of a message that already named it as a parent (a reply
//     that arrived first);
//   - a message none of whose ids is known joins the thread begun by a
//     message with the same base subject (as RFC 5256 §2.2 step 5 gathers
//     top-level threads by subject), else starts a thread.
//
// A thread id, once given, never changes: a message that links two
// existing threads joins its nearest parent's and the threads stay apart.
func AssignThread(tx Execer, accountID int64, k searchindex.ThreadKeys, newThread int64) (int64, error) {
	// Look up the nearest parent first, the own id last.
	var lookup []string
	for i := len(k.Parents) - 1; i >= 0; i-- {
		if len(k.Parents[i]) <= maxKey {
			lookup = append(lookup, "<"+k.Parents[i])
		}
	}
	if k.MessageID != "" && len(k.MessageID) <= maxKey {
		lookup = append(lookup, "<"+k.MessageID)
	}
	subject := ""
	if k.Subject != "" && len(k.Subject) <= maxKey {
		subject = "s:" + k.Subject
	}
	keys := lookup
	if subject != "" {
		keys = append(keys[:len(keys):len(keys)], subject)
	}
	if len(keys) == 0 {
		return newThread, nil
	}
	// One query for every key, one insert for the new ones: this runs in
	// the delivery's transaction, on the committer's path.
	known, err := threadsOf(tx, accountID, keys)
	if err != nil {
		return 0, err
	}
	thread := int64(0)
	for _, key := range lookup {
		if thread = known[key]; thread != 0 {
			break
		}
	}
	var record []string
	if thread == 0 {
		if thread = known[subject]; thread == 0 {
			thread = newThread
			if subject != "" {
				record = append(record, subject)
			}
		}
	}
	for _, key := range lookup {
		if _, ok := known[key]; !ok && !slices.Contains(record, key) {
			record = append(record, key)
		}
	}
	if len(record) > 0 {
		args := make([]any, 0, 3*len(record))
		for _, key := range record {
			args = append(args, accountID, key, thread)
		}
		q := "INSERT INTO thread_keys(account_id, key, thread_id) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(record)), ", ") + " ON CONFLICT DO NOTHING"
		if _, err := tx.ExecContext(context.Background(), q, args...); err != nil {
			return 0, err
		}
	}
	return thread, nil
}

// threadsOf returns the threads recorded for the keys that have one.
func threadsOf(tx Execer, accountID int64, keys []string) (map[string]int64, error) {
	args := []any{accountID}
	for _, key := range keys {
		args = append(args, key)
	}
	rows, err := tx.QueryContext(context.Background(), "SELECT key, thread_id FROM thread_keys WHERE account_id = ? AND key IN ("+inList(len(keys))+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var key string
		var id int64
		if err := rows.Scan(&key, &id); err != nil {
			return nil, err
		}
		out[key] = id
	}
	return out, rows.Err()
}
