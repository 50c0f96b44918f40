package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"pochta/internal/store"
	"pochta/internal/store/names"
	"pochta/internal/store/searchindex"
)

// insertBlob stores a new content with its search index and sets b.id.
func insertBlob(tx *wtx, b *blobData, refs int64, idx *searchindex.Text) error {
	if err := tx.QueryRowContext(bg, "INSERT INTO blobs(size, refs, data) VALUES(?, ?, ?) RETURNING id", b.size, refs, b.data).Scan(&b.id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(bg, "INSERT INTO search(blob_id, subject, sender, recipient, cc, bcc, headers, body) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
		b.id, noNUL(idx.Subject), noNUL(idx.From), noNUL(idx.To), noNUL(idx.Cc), noNUL(idx.Bcc), noNUL(idx.HeaderText), noNUL(idx.Body)); err != nil {
		return err
	}
	if len(idx.Headers) == 0 {
		return nil
	}
	// One statement for all the header rows.
	names := make([]string, len(idx.Headers))
	values := make([]string, len(idx.Headers))
	for i, hv := range idx.Headers {
		names[i], values[i] = noNUL(hv[0]), noNUL(hv[1])
	}
	_, err := tx.ExecContext(bg, "INSERT INTO headers(blob_id, name, value) SELECT ?, n, v FROM unnest(?::text[], ?::text[]) AS t(n, v)", b.id, names, values)
	return err
}

// noNUL drops NUL characters, which PostgreSQL text cannot hold; they
// never match a search anyway.
func noNUL(s string) string { return strings.ReplaceAll(s, "\x00", "") }

// likeEscape quotes LIKE's wildcards (with the default escape "\\").
func likeEscape(s string) string {
	return strings.NewReplacer("\\", "\\\\", "%", "\\%", "_", "\\_").Replace(s)
}

// searchColumns maps a field to the columns of the search table.
var searchColumns = map[store.SearchField][]string{
	store.SearchSubject: {"subject"},
	store.SearchFrom:    {"sender"},
	store.SearchTo:      {"recipient"},
	store.SearchCc:      {"cc"},
	store.SearchBcc:     {"bcc"},
	store.SearchBody:    {"body"},
	store.SearchText:    {"headers", "body"},
}

// Search implements store.Mailstore. Needles of three or more characters
// use the pg_trgm indexes; shorter ones scan the mailbox's stored text.
func (s *Store) Search(ctx context.Context, mailboxID int64, field store.SearchField, value string) ([]uint32, error) {
	if _, err := mailboxByID(ctx, s.rdb, mailboxID); err != nil {
		return nil, dbErr(err)
	}
	needle := strings.ToLower(value)
	var q string
	var args []any
	if name, ok := strings.CutPrefix(string(field), string(store.SearchHeader)); ok {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			return nil, fmt.Errorf("%w: empty header name", store.ErrInvalidName)
		}
		q = `SELECT uid FROM messages m WHERE mailbox_id = ? AND EXISTS
			(SELECT 1 FROM headers h WHERE h.blob_id = m.blob_id AND h.name = ? AND strpos(h.value, ?) > 0) ORDER BY uid`
		args = []any{mailboxID, name, noNUL(needle)}
	} else {
		cols, ok := searchColumns[field]
		if !ok {
			return nil, fmt.Errorf("%w: unknown search field %q", store.ErrInvalidName, names.Truncate(string(field)))
		}
		if needle == "" {
			q = "SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid"
			args = []any{mailboxID}
		} else {
			// LIKE on lower-cased text: substring semantics, answered
			// from the pg_trgm GIN indexes for needles of 3+ characters.
			conds := make([]string, len(cols))
			args = []any{mailboxID}
			for i, c := range cols {
				conds[i] = "s." + c + " LIKE ?"
				args = append(args, "%"+likeEscape(noNUL(needle))+"%")
			}
			q = "SELECT m.uid FROM messages m JOIN search s ON s.blob_id = m.blob_id WHERE m.mailbox_id = ? AND (" + strings.Join(conds, " OR ") + ") ORDER BY m.uid"
		}
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(err)
	}
	return scanUIDs(rows)
}

// scanUIDs reads a one-column result of UIDs and closes it.
func scanUIDs(rows *sql.Rows) ([]uint32, error) {
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u int64
		if err := rows.Scan(&u); err != nil {
			return nil, dbErr(err)
		}
		out = append(out, uint32(u))
	}
	return out, dbErr(rows.Err())
}
