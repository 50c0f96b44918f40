package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"pochta/internal/store"
	"pochta/internal/store/names"
	"pochta/internal/store/searchindex"
)

// insertBlob records a new blob, with its content if inline, and queues it
// for the search index (see indexer.go).
func insertBlob(tx *wtx, e *effects, b *blobFile, refs int64) error {
	if _, err := tx.ExecContext(bg, "INSERT INTO blobs(id, size, refs) VALUES(?, ?, ?)", b.id, b.size, refs); err != nil {
		return err
	}
	if b.data != nil {
		if _, err := tx.ExecContext(bg, "INSERT INTO blob_data(id, data) VALUES(?, ?)", b.id, b.data); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(bg, "INSERT INTO index_queue(blob_id) VALUES(?)", b.id); err != nil {
		return err
	}
	e.queued++
	return nil
}

// insertIndex adds a blob's search index, unless the blob is gone (deleted
// in the same batch after the indexer took it from the queue).
func insertIndex(tx *wtx, id int64, idx *searchindex.Text) error {
	var one int
	switch err := tx.QueryRowContext(bg, "SELECT 1 FROM blobs WHERE id = ?", id).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	if _, err := tx.ExecContext(bg, "INSERT INTO search(rowid, subject, sender, recipient, cc, bcc, headers, body) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
		id, idx.Subject, idx.From, idx.To, idx.Cc, idx.Bcc, idx.HeaderText, idx.Body); err != nil {
		return err
	}
	for _, hv := range idx.Headers {
		if _, err := tx.ExecContext(bg, "INSERT INTO headers(blob_id, name, value) VALUES(?, ?, ?)", id, hv[0], hv[1]); err != nil {
			return err
		}
	}
	return nil
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
// use the FTS5 trigram index; shorter ones scan the mailbox's stored text.
func (s *Store) Search(ctx context.Context, mailboxID int64, field store.SearchField, value string) ([]uint32, error) {
	if _, err := mailboxByID(ctx, s.rdb, mailboxID); err != nil {
		return nil, dbErr(err)
	}
	if err := s.indexer.catchUp(ctx, mailboxID); err != nil {
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
			(SELECT 1 FROM headers h WHERE h.blob_id = m.blob_id AND h.name = ? AND instr(h.value, ?) > 0) ORDER BY uid`
		args = []any{mailboxID, name, needle}
	} else {
		cols, ok := searchColumns[field]
		if !ok {
			return nil, fmt.Errorf("%w: unknown search field %q", store.ErrInvalidName, names.Truncate(string(field)))
		}
		switch {
		case needle == "":
			q = "SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid"
			args = []any{mailboxID}
		case utf8.RuneCountInString(needle) >= 3:
			match := "{" + strings.Join(cols, " ") + "} : \"" + strings.ReplaceAll(needle, `"`, `""`) + "\""
			// CROSS JOIN makes SQLite start from the index's hits and look
			// each up in messages_blob (blob_id, then the primary key's
			// mailbox_id: a covering index); with "blob_id IN (SELECT ...)"
			// it walked every message of the mailbox and tested each.
			q = "SELECT m.uid FROM search s CROSS JOIN messages m ON m.blob_id = s.rowid WHERE s.search MATCH ? AND m.mailbox_id = ? ORDER BY m.uid"
			args = []any{match, mailboxID}
		default:
			conds := make([]string, len(cols))
			args = []any{mailboxID}
			for i, c := range cols {
				conds[i] = "instr(s." + c + ", ?) > 0"
				args = append(args, needle)
			}
			q = "SELECT m.uid FROM messages m JOIN search s ON s.rowid = m.blob_id WHERE m.mailbox_id = ? AND (" + strings.Join(conds, " OR ") + ") ORDER BY m.uid"
		}
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(err)
	}
	return scanUIDs(rows)
}
