package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"pochta/internal/store"
	"pochta/internal/store/names"
)

// This file implements store.AppPasswords.

const appPasswordCols = "id, account_id, name, hash, protocols, created"

func scanAppPassword(row scanner) (store.AppPassword, error) {
	var p store.AppPassword
	var protos string
	var created int64
	if err := row.Scan(&p.ID, &p.AccountID, &p.Name, &p.Hash, &protos, &created); err != nil {
		return store.AppPassword{}, err
	}
	if protos != "" {
		p.Protocols = strings.Split(protos, ",")
	}
	p.Created = fromNano(created)
	return p, nil
}

// AddAppPassword implements store.AppPasswords.
func (s *Store) AddAppPassword(ctx context.Context, p store.AppPassword) (store.AppPassword, error) {
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || len(p.Name) > 100 || strings.ContainsAny(p.Name, "\r\n") {
		return store.AppPassword{}, fmt.Errorf("%w: app password name %q", store.ErrInvalidName, names.Truncate(p.Name))
	}
	if p.Hash == "" {
		return store.AppPassword{}, fmt.Errorf("%w: app password without hash", store.ErrInvalidName)
	}
	for i, proto := range p.Protocols {
		proto = strings.ToLower(strings.TrimSpace(proto))
		if proto == "" || strings.Contains(proto, ",") {
			return store.AppPassword{}, fmt.Errorf("%w: protocol %q", store.ErrInvalidName, names.Truncate(proto))
		}
		p.Protocols[i] = proto
	}
	p.Created = fromNano(nowNano())
	err := s.write(ctx, func(tx DB) error {
		if err := AccountExists(bg, tx, p.AccountID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(bg, "SELECT count(*) FROM app_passwords WHERE account_id = ? AND name = ?", p.AccountID, p.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: app password %q", store.ErrExists, names.Truncate(p.Name))
		}
		return tx.QueryRowContext(bg, "INSERT INTO app_passwords(account_id, name, hash, protocols, created) VALUES (?, ?, ?, ?, ?) RETURNING id",
			p.AccountID, p.Name, p.Hash, strings.Join(p.Protocols, ","), p.Created.UnixNano()).Scan(&p.ID)
	})
	if err != nil {
		return store.AppPassword{}, s.dbErr(err)
	}
	return p, nil
}

// AppPasswords implements store.AppPasswords.
func (s *Store) AppPasswords(ctx context.Context, accountID int64) ([]store.AppPassword, error) {
	out, err := queryAll(ctx, s.rdb, scanAppPassword, "SELECT "+appPasswordCols+" FROM app_passwords WHERE account_id = ? ORDER BY name", accountID)
	return out, s.dbErr(err)
}

// AppPasswordByHash implements store.AppPasswords.
func (s *Store) AppPasswordByHash(ctx context.Context, accountID int64, hash string) (store.AppPassword, error) {
	p, err := scanAppPassword(s.rdb.QueryRowContext(ctx, "SELECT "+appPasswordCols+" FROM app_passwords WHERE account_id = ? AND hash = ?", accountID, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.AppPassword{}, fmt.Errorf("%w: app password", store.ErrNotFound)
	}
	return p, s.dbErr(err)
}

// RemoveAppPassword implements store.AppPasswords.
func (s *Store) RemoveAppPassword(ctx context.Context, accountID int64, name string) error {
	return s.dbErr(s.write(ctx, func(tx DB) error {
		res, err := tx.ExecContext(bg, "DELETE FROM app_passwords WHERE account_id = ? AND name = ?", accountID, strings.TrimSpace(name))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: app password %q", store.ErrNotFound, names.Truncate(name))
		}
		return nil
	}))
}

// MainPasswordRefused implements store.AppPasswords.
func (s *Store) MainPasswordRefused(ctx context.Context, accountID int64) (bool, error) {
	var refused bool
	err := s.rdb.QueryRowContext(ctx, "SELECT main_password_refused FROM accounts WHERE id = ?", accountID).Scan(&refused)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
	}
	return refused, s.dbErr(err)
}

// SetMainPasswordRefused implements store.AppPasswords.
func (s *Store) SetMainPasswordRefused(ctx context.Context, accountID int64, refused bool) error {
	return s.dbErr(s.write(ctx, func(tx DB) error {
		res, err := tx.ExecContext(bg, "UPDATE accounts SET main_password_refused = ? WHERE id = ?", b2i(refused), accountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: account %d", store.ErrNotFound, accountID)
		}
		return nil
	}))
}
