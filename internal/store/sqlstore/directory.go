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

// This file implements store.Directory but for adding and removing an
// account, which make and drop mailboxes (each backend's own).

// AddDomain implements store.Directory.
func (s *Store) AddDomain(ctx context.Context, name string) error {
	name, err := names.Domain(name)
	if err != nil {
		return err
	}
	return s.dbErr(s.write(ctx, func(tx DB) error {
		ok, err := Exists(bg, tx, "SELECT 1 FROM domains WHERE name = ?", name)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("%w: domain %s", store.ErrExists, name)
		}
		_, err = tx.ExecContext(bg, "INSERT INTO domains(name, created) VALUES(?, ?)", name, nowNano())
		return err
	}))
}

// GetDomain implements store.Directory.
func (s *Store) GetDomain(ctx context.Context, name string) (store.Domain, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	var d store.Domain
	var created int64
	err := s.rdb.QueryRowContext(ctx, "SELECT name, catch_all, created FROM domains WHERE name = ?", name).Scan(&d.Name, &d.CatchAll, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("%w: domain %s", store.ErrNotFound, name)
	}
	d.Created = fromNano(created)
	return d, s.dbErr(err)
}

// ListDomains implements store.Directory.
func (s *Store) ListDomains(ctx context.Context) ([]store.Domain, error) {
	out, err := queryAll(ctx, s.rdb, func(rows scanner) (store.Domain, error) {
		var d store.Domain
		var created int64
		err := rows.Scan(&d.Name, &d.CatchAll, &created)
		d.Created = fromNano(created)
		return d, err
	}, "SELECT name, catch_all, created FROM domains ORDER BY name")
	return out, s.dbErr(err)
}

// RemoveDomain implements store.Directory.
func (s *Store) RemoveDomain(ctx context.Context, name string) error {
	name = strings.ToLower(strings.TrimSpace(name))
	return s.dbErr(s.write(ctx, func(tx DB) error {
		ok, err := Exists(bg, tx, "SELECT 1 FROM domains WHERE name = ?", name)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: domain %s", store.ErrNotFound, name)
		}
		for _, q := range []string{"SELECT 1 FROM accounts WHERE domain = ? LIMIT 1", "SELECT 1 FROM aliases WHERE domain = ? LIMIT 1"} {
			used, err := Exists(bg, tx, q, name)
			if err != nil {
				return err
			}
			if used {
				return fmt.Errorf("%w: domain %s has accounts or aliases", store.ErrInUse, name)
			}
		}
		_, err = tx.ExecContext(bg, "DELETE FROM domains WHERE name = ?", name)
		return err
	}))
}

// SetCatchAll implements store.Directory. The address must be an account.
func (s *Store) SetCatchAll(ctx context.Context, domain, address string) error {
	domain = strings.ToLower(strings.TrimSpace(domain))
	if address != "" {
		a, _, err := names.Address(address)
		if err != nil {
			return err
		}
		address = a
	}
	return s.dbErr(s.write(ctx, func(tx DB) error {
		if address != "" {
			ok, err := Exists(bg, tx, "SELECT 1 FROM accounts WHERE address = ?", address)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: account %s", store.ErrNotFound, address)
			}
		}
		res, err := tx.ExecContext(bg, "UPDATE domains SET catch_all = ? WHERE name = ?", address, domain)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: domain %s", store.ErrNotFound, domain)
		}
		return nil
	}))
}

// accountCols are the columns scanAccount reads, in its order.
const accountCols = "id, address, password_hash, quota, created"

// scanAccount reads a row of accountCols.
func scanAccount(sc scanner) (store.Account, error) {
	var a store.Account
	var created int64
	err := sc.Scan(&a.ID, &a.Address, &a.PasswordHash, &a.QuotaBytes, &created)
	a.Created = fromNano(created)
	return a, err
}

// GetAccount implements store.Directory.
func (s *Store) GetAccount(ctx context.Context, address string) (store.Account, error) {
	address = strings.ToLower(strings.TrimSpace(address))
	a, err := scanAccount(s.rdb.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE address = ?", address))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Account{}, fmt.Errorf("%w: account %s", store.ErrNotFound, address)
	}
	return a, s.dbErr(err)
}

// GetAccountByID implements store.Directory.
func (s *Store) GetAccountByID(ctx context.Context, id int64) (store.Account, error) {
	a, err := scanAccount(s.rdb.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Account{}, fmt.Errorf("%w: account %d", store.ErrNotFound, id)
	}
	return a, s.dbErr(err)
}

// ListAccounts implements store.Directory.
func (s *Store) ListAccounts(ctx context.Context, domain string) ([]store.Account, error) {
	q, args := byDomain("SELECT "+accountCols+" FROM accounts", domain)
	out, err := queryAll(ctx, s.rdb, scanAccount, q, args...)
	return out, s.dbErr(err)
}

func (s *Store) updateAccount(ctx context.Context, address, query string, arg any) error {
	address = strings.ToLower(strings.TrimSpace(address))
	return s.dbErr(s.write(ctx, func(tx DB) error {
		res, err := tx.ExecContext(bg, query, arg, address)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: account %s", store.ErrNotFound, address)
		}
		return nil
	}))
}

// SetPasswordHash implements store.Directory.
func (s *Store) SetPasswordHash(ctx context.Context, address, hash string) error {
	return s.updateAccount(ctx, address, "UPDATE accounts SET password_hash = ? WHERE address = ?", hash)
}

// SetQuota implements store.Directory.
func (s *Store) SetQuota(ctx context.Context, address string, bytes int64) error {
	if bytes < 0 {
		bytes = 0
	}
	return s.updateAccount(ctx, address, "UPDATE accounts SET quota = ? WHERE address = ?", bytes)
}

// AddAlias implements store.Directory.
func (s *Store) AddAlias(ctx context.Context, address string, targets []string) error {
	addr, dom, err := names.Address(address)
	if err != nil {
		return err
	}
	var ts []string
	seen := map[string]bool{}
	for _, t := range targets {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || seen[t] {
			continue
		}
		if strings.ContainsAny(t, " \t\r\n<>") {
			return fmt.Errorf("%w: bad alias target %q", store.ErrInvalidName, names.Truncate(t))
		}
		seen[t] = true
		ts = append(ts, t)
	}
	if len(ts) == 0 {
		return fmt.Errorf("%w: alias without targets", store.ErrInvalidName)
	}
	return s.dbErr(s.write(ctx, func(tx DB) error {
		if err := checkNewAddress(bg, tx, addr, dom); err != nil {
			return err
		}
		_, err = tx.ExecContext(bg, "INSERT INTO aliases(address, domain, targets) VALUES(?, ?, ?)", addr, dom, strings.Join(ts, "\n"))
		return err
	}))
}

// GetAlias implements store.Directory.
func (s *Store) GetAlias(ctx context.Context, address string) (store.Alias, error) {
	address = strings.ToLower(strings.TrimSpace(address))
	var a store.Alias
	var ts string
	err := s.rdb.QueryRowContext(ctx, "SELECT address, targets FROM aliases WHERE address = ?", address).Scan(&a.Address, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("%w: alias %s", store.ErrNotFound, address)
	}
	a.Targets = strings.Split(ts, "\n")
	return a, s.dbErr(err)
}

// ListAliases implements store.Directory.
func (s *Store) ListAliases(ctx context.Context, domain string) ([]store.Alias, error) {
	q, args := byDomain("SELECT address, targets FROM aliases", domain)
	out, err := queryAll(ctx, s.rdb, func(rows scanner) (store.Alias, error) {
		var a store.Alias
		var ts string
		err := rows.Scan(&a.Address, &ts)
		a.Targets = strings.Split(ts, "\n")
		return a, err
	}, q, args...)
	return out, s.dbErr(err)
}

// RemoveAlias implements store.Directory.
func (s *Store) RemoveAlias(ctx context.Context, address string) error {
	address = strings.ToLower(strings.TrimSpace(address))
	return s.dbErr(s.write(ctx, func(tx DB) error {
		res, err := tx.ExecContext(bg, "DELETE FROM aliases WHERE address = ?", address)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: alias %s", store.ErrNotFound, address)
		}
		return nil
	}))
}

// checkNewAddress checks that addr's domain is served and that no account
// or alias has the address yet (an address is one or the other).
func checkNewAddress(ctx context.Context, tx DB, addr, dom string) error {
	ok, err := Exists(ctx, tx, "SELECT 1 FROM domains WHERE name = ?", dom)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: domain %s", store.ErrNotFound, dom)
	}
	ok, err = Exists(ctx, tx, "SELECT 1 FROM accounts WHERE address = ? UNION ALL SELECT 1 FROM aliases WHERE address = ?", addr, addr)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("%w: address %s", store.ErrExists, addr)
	}
	return nil
}

// byDomain completes a listing query of accounts or aliases: all of them, or
// those of one domain when domain is not empty, ordered by address.
func byDomain(q, domain string) (string, []any) {
	domain = strings.ToLower(strings.TrimSpace(domain))
	if domain == "" {
		return q + " ORDER BY address", nil
	}
	return q + " WHERE domain = ? ORDER BY address", []any{domain}
}

// InsertAccount adds an account row from source ("" for the store's own)
// in the write transaction tx, once checkNewAddress allows it; the
// backend then makes its mailboxes in the same transaction.
func InsertAccount(ctx context.Context, tx DB, addr, dom, passwordHash, source string) (store.Account, error) {
	if err := checkNewAddress(ctx, tx, addr, dom); err != nil {
		return store.Account{}, err
	}
	acc := store.Account{Address: addr, PasswordHash: passwordHash}
	now := nowNano()
	err := tx.QueryRowContext(ctx, "INSERT INTO accounts(address, domain, password_hash, created, source) VALUES(?, ?, ?, ?, ?) RETURNING id",
		addr, dom, passwordHash, now, source).Scan(&acc.ID)
	acc.Created = fromNano(now)
	return acc, err
}
