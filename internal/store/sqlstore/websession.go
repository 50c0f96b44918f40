package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"pochta/internal/store"
)

// This file implements store.WebSessions.

// AddWebSession implements store.WebSessions.
func (s *Store) AddWebSession(ctx context.Context, ws store.WebSession) error {
	if ws.ID == "" || ws.CSRF == "" {
		return fmt.Errorf("%w: web session without id or csrf token", store.ErrInvalidName)
	}
	return s.dbErr(s.write(ctx, func(tx DB) error {
		if err := AccountExists(bg, tx, ws.AccountID); err != nil {
			return err
		}
		_, err := tx.ExecContext(bg, "INSERT INTO web_sessions(id, account_id, csrf, created, expires) VALUES (?, ?, ?, ?, ?)",
			ws.ID, ws.AccountID, ws.CSRF, ws.Created.UnixNano(), ws.Expires.UnixNano())
		return err
	}))
}

// WebSession implements store.WebSessions.
func (s *Store) WebSession(ctx context.Context, id string) (store.WebSession, error) {
	ws := store.WebSession{ID: id}
	var created, expires int64
	err := s.rdb.QueryRowContext(ctx, "SELECT account_id, csrf, created, expires FROM web_sessions WHERE id = ? AND expires > ?", id, nowNano()).
		Scan(&ws.AccountID, &ws.CSRF, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return store.WebSession{}, fmt.Errorf("%w: web session", store.ErrNotFound)
	}
	ws.Created, ws.Expires = fromNano(created), fromNano(expires)
	return ws, s.dbErr(err)
}

// RemoveWebSession implements store.WebSessions.
func (s *Store) RemoveWebSession(ctx context.Context, id string) error {
	return s.dbErr(s.write(ctx, func(tx DB) error {
		_, err := tx.ExecContext(bg, "DELETE FROM web_sessions WHERE id = ?", id)
		return err
	}))
}

// RemoveWebSessions implements store.WebSessions.
func (s *Store) RemoveWebSessions(ctx context.Context, accountID int64) (int, error) {
	var n int64
	err := s.write(ctx, func(tx DB) error {
		res, err := tx.ExecContext(bg, "DELETE FROM web_sessions WHERE account_id = ? OR expires <= ?", accountID, nowNano())
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	return int(n), s.dbErr(err)
}

// WebSettings implements store.WebSessions.
func (s *Store) WebSettings(ctx context.Context, accountID int64) (store.WebSettings, error) {
	var ws store.WebSettings
	err := s.rdb.QueryRowContext(ctx, "SELECT totp_secret, signature, language FROM web_settings WHERE account_id = ?", accountID).
		Scan(&ws.TOTPSecret, &ws.Signature, &ws.Language)
	if errors.Is(err, sql.ErrNoRows) {
		return store.WebSettings{}, nil
	}
	return ws, s.dbErr(err)
}

// SetWebSettings implements store.WebSessions.
func (s *Store) SetWebSettings(ctx context.Context, accountID int64, ws store.WebSettings) error {
	return s.dbErr(s.write(ctx, func(tx DB) error {
		if err := AccountExists(bg, tx, accountID); err != nil {
			return err
		}
		_, err := tx.ExecContext(bg, `INSERT INTO web_settings(account_id, totp_secret, signature, language) VALUES (?, ?, ?, ?)
ON CONFLICT(account_id) DO UPDATE SET totp_secret = excluded.totp_secret, signature = excluded.signature, language = excluded.language`,
			accountID, ws.TOTPSecret, ws.Signature, ws.Language)
		return err
	}))
}
