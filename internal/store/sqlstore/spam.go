package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"pochta/internal/store"
)

// maxTokenQuery bounds the number of tokens per SQL statement (SQLite's
// default limit on host parameters is 32766; stay far below).
const maxTokenQuery = 500

// SpamTokens implements store.SpamStore.
func (s *Store) SpamTokens(ctx context.Context, accountID int64, tokens []string) (store.TokenCounts, map[string]store.TokenCounts, error) {
	var totals store.TokenCounts
	err := s.rdb.QueryRowContext(ctx, "SELECT spam, ham FROM spam_totals WHERE account_id = ?", accountID).Scan(&totals.Spam, &totals.Ham)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return totals, nil, s.dbErr(err)
	}
	counts := make(map[string]store.TokenCounts)
	for len(tokens) > 0 {
		chunk := tokens[:min(len(tokens), maxTokenQuery)]
		tokens = tokens[len(chunk):]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, accountID)
		for _, t := range chunk {
			args = append(args, t)
		}
		q := "SELECT token, spam, ham FROM spam_tokens WHERE account_id = ? AND token IN (?" + strings.Repeat(",?", len(chunk)-1) + ")"
		rows, err := s.rdb.QueryContext(ctx, q, args...)
		if err != nil {
			return totals, nil, s.dbErr(err)
		}
		for rows.Next() {
			var tok string
			var c store.TokenCounts
			if err := rows.Scan(&tok, &c.Spam, &c.Ham); err != nil {
				rows.Close()
				return totals, nil, s.dbErr(err)
			}
			counts[tok] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return totals, nil, s.dbErr(err)
		}
	}
	return totals, counts, nil
}

// TrainSpam implements store.SpamStore. It goes through the committer like
// every other write; a token whose counts both reach zero is deleted.
func (s *Store) TrainSpam(ctx context.Context, accountID int64, tokens []string, spam, undo bool) error {
	col := "ham"
	if spam {
		col = "spam"
	}
	return s.dbErr(s.write(ctx, func(tx DB) error {
		if err := AccountExists(bg, tx, accountID); err != nil {
			return err
		}
		// Upserts name the table's own value (spam_totals.ham) and
		// CASE stands for SQLite's max() and PostgreSQL's GREATEST().
		total := "INSERT INTO spam_totals(account_id, " + col + ") VALUES(?, 1) ON CONFLICT(account_id) DO UPDATE SET " + col + " = spam_totals." + col + " + 1"
		token := "INSERT INTO spam_tokens(account_id, token, " + col + ") VALUES(?, ?, 1) ON CONFLICT(account_id, token) DO UPDATE SET " + col + " = spam_tokens." + col + " + 1"
		if undo {
			less := col + " = CASE WHEN " + col + " > 0 THEN " + col + " - 1 ELSE 0 END"
			total = "UPDATE spam_totals SET " + less + " WHERE account_id = ?"
			token = "UPDATE spam_tokens SET " + less + " WHERE account_id = ? AND token = ?"
		}
		if _, err := tx.ExecContext(bg, total, accountID); err != nil {
			return err
		}
		// Each statement is prepared once per transaction (sqlite's
		// committer caches them, pgx caches by text).
		const drop = "DELETE FROM spam_tokens WHERE account_id = ? AND token = ? AND spam = 0 AND ham = 0"
		for _, t := range tokens {
			if _, err := tx.ExecContext(bg, token, accountID, t); err != nil {
				return err
			}
			if undo {
				if _, err := tx.ExecContext(bg, drop, accountID, t); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}
