package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"pochta/internal/store"
	"pochta/internal/store/names"
)

var _ store.SieveStore = (*Store)(nil)

// maxVacationAge is how long vacation records are kept at most; older
// ones are removed when new ones are written.
const maxVacationAge = 100 * 24 * time.Hour

// checkScriptName refuses names ManageSieve could not carry (RFC 5804
// §1.6: no control characters) and over-long ones.
func checkScriptName(name string) error {
	if name == "" || len(name) > 512 || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool {
		return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029
	}) {
		return fmt.Errorf("%w: bad script name %q", store.ErrInvalidName, names.Truncate(name))
	}
	return nil
}

func (s *Store) SieveScripts(ctx context.Context, accountID int64) ([]store.SieveScript, error) {
	out, err := queryAll(ctx, s.rdb, func(rows scanner) (store.SieveScript, error) {
		var sc store.SieveScript
		return sc, rows.Scan(&sc.Name, &sc.Content, &sc.Active)
	}, "SELECT name, content, active FROM sieve_scripts WHERE account_id = ? ORDER BY name", accountID)
	return out, s.dbErr(err)
}

func (s *Store) getScript(ctx context.Context, q DB, accountID int64, where string, args ...any) (store.SieveScript, error) {
	var sc store.SieveScript
	err := q.QueryRowContext(ctx, "SELECT name, content, active FROM sieve_scripts WHERE account_id = ? AND "+where, append([]any{accountID}, args...)...).Scan(&sc.Name, &sc.Content, &sc.Active)
	if errors.Is(err, sql.ErrNoRows) {
		return sc, fmt.Errorf("%w: sieve script", store.ErrNotFound)
	}
	return sc, s.dbErr(err)
}

func (s *Store) GetSieveScript(ctx context.Context, accountID int64, name string) (store.SieveScript, error) {
	return s.getScript(ctx, s.rdb, accountID, "name = ?", name)
}

func (s *Store) ActiveSieveScript(ctx context.Context, accountID int64) (store.SieveScript, error) {
	return s.getScript(ctx, s.rdb, accountID, "active != 0")
}

func (s *Store) PutSieveScript(ctx context.Context, accountID int64, name, content string) error {
	if err := checkScriptName(name); err != nil {
		return err
	}
	return s.dbErr(s.write(ctx, func(tx DB) error {
		if err := AccountExists(bg, tx, accountID); err != nil {
			return err
		}
		_, err := tx.ExecContext(bg, `INSERT INTO sieve_scripts(account_id, name, content) VALUES(?, ?, ?)
			ON CONFLICT(account_id, name) DO UPDATE SET content = excluded.content`, accountID, name, content)
		return err
	}))
}

// scriptExec runs one statement on a script and maps "no row" to ErrNotFound.
func (s *Store) scriptExec(ctx context.Context, pre func(tx DB) error, query string, args ...any) error {
	return s.dbErr(s.write(ctx, func(tx DB) error {
		if pre != nil {
			if err := pre(tx); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(bg, query, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: sieve script", store.ErrNotFound)
		}
		return nil
	}))
}

func (s *Store) DeleteSieveScript(ctx context.Context, accountID int64, name string) error {
	return s.scriptExec(ctx, func(tx DB) error {
		active, err := Exists(bg, tx, "SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ? AND active != 0", accountID, name)
		if err == nil && active {
			return fmt.Errorf("%w: the active script cannot be deleted", store.ErrInUse)
		}
		return err
	}, "DELETE FROM sieve_scripts WHERE account_id = ? AND name = ?", accountID, name)
}

func (s *Store) RenameSieveScript(ctx context.Context, accountID int64, oldName, newName string) error {
	if err := checkScriptName(newName); err != nil {
		return err
	}
	return s.scriptExec(ctx, func(tx DB) error {
		taken, err := Exists(bg, tx, "SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?", accountID, newName)
		if err == nil && taken && oldName != newName {
			return fmt.Errorf("%w: sieve script %q", store.ErrExists, newName)
		}
		return err
	}, "UPDATE sieve_scripts SET name = ? WHERE account_id = ? AND name = ?", newName, accountID, oldName)
}

func (s *Store) ActivateSieveScript(ctx context.Context, accountID int64, name string) error {
	return s.dbErr(s.write(ctx, func(tx DB) error {
		if name != "" {
			ok, err := Exists(bg, tx, "SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?", accountID, name)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: sieve script %q", store.ErrNotFound, name)
			}
		}
		if _, err := tx.ExecContext(bg, "UPDATE sieve_scripts SET active = 0 WHERE account_id = ? AND active != 0", accountID); err != nil {
			return err
		}
		if name == "" {
			return nil
		}
		_, err := tx.ExecContext(bg, "UPDATE sieve_scripts SET active = 1 WHERE account_id = ? AND name = ?", accountID, name)
		return err
	}))
}

func (s *Store) VacationSent(ctx context.Context, accountID int64, sender, handle string, period time.Duration) (bool, error) {
	sender = strings.ToLower(sender)
	already := false
	err := s.write(ctx, func(tx DB) error {
		now := time.Now()
		res, err := tx.ExecContext(bg, `INSERT INTO sieve_vacation(account_id, sender, handle, sent) VALUES(?, ?, ?, ?)
			ON CONFLICT(account_id, sender, handle) DO UPDATE SET sent = excluded.sent WHERE sieve_vacation.sent <= ?`,
			accountID, sender, handle, now.UnixNano(), now.Add(-period).UnixNano())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		already = n == 0
		_, err = tx.ExecContext(bg, "DELETE FROM sieve_vacation WHERE sent < ?", now.Add(-maxVacationAge).UnixNano())
		return err
	})
	return already, s.dbErr(err)
}
