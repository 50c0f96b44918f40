package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
		return totals, nil, dbErr(err)
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
			return totals, nil, dbErr(err)
		}
		for rows.Next() {
			var tok string
			var c store.TokenCounts
			if err := rows.Scan(&tok, &c.Spam, &c.Ham); err != nil {
				rows.Close()
				return totals, nil, dbErr(err)
			}
			counts[tok] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return totals, nil, dbErr(err)
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
	return dbErr(s.write(ctx, func(tx *wtx, e *effects) error {
		var n int
		if err := tx.QueryRowContext(bg, "SELECT count(*) FROM accounts WHERE id = ?", accountID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
		}
		total := "INSERT INTO spam_totals(account_id, " + col + ") VALUES(?, 1) ON CONFLICT(account_id) DO UPDATE SET " + col + " = spam_totals." + col + " + 1"
		token := "INSERT INTO spam_tokens(account_id, token, " + col + ") VALUES(?, ?, 1) ON CONFLICT(account_id, token) DO UPDATE SET " + col + " = spam_tokens." + col + " + 1"
		if undo {
			total = "UPDATE spam_totals SET " + col + " = GREATEST(" + col + " - 1, 0) WHERE account_id = ?"
			token = "UPDATE spam_tokens SET " + col + " = GREATEST(" + col + " - 1, 0) WHERE account_id = ? AND token = ?"
		}
		if _, err := tx.ExecContext(bg, total, accountID); err != nil {
			return err
		}
		st, err := tx.PrepareContext(bg, token)
		if err != nil {
			return err
		}
		defer st.Close()
		var drop *sql.Stmt
		if undo {
			if drop, err = tx.PrepareContext(bg, "DELETE FROM spam_tokens WHERE account_id = ? AND token = ? AND spam = 0 AND ham = 0"); err != nil {
				return err
			}
			defer drop.Close()
		}
		for _, t := range tokens {
			if _, err := st.ExecContext(bg, accountID, t); err != nil {
				return err
			}
			if drop != nil {
				if _, err := drop.ExecContext(bg, accountID, t); err != nil {
					return err
				}
			}
		}
		return nil
	}))
}
