package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"pochta/internal/store"
	"pochta/internal/store/names"
	"pochta/internal/store/sqlstore"
)

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

var bg = context.Background()

func dbErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) ||
		errors.Is(err, store.ErrInvalidName) || errors.Is(err, store.ErrInUse) ||
		errors.Is(err, store.ErrOverQuota) || errors.Is(err, store.ErrModifiedSince) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errClosed) {
		return err
	}
	return fmt.Errorf("sqlite store: %w", err)
}

func nowNano() int64 { return time.Now().UnixNano() }

func fromNano(n int64) time.Time { return time.Unix(0, n).UTC() }

func exists(ctx context.Context, q querier, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// AddDomain implements store.Directory.
func (s *Store) AddDomain(ctx context.Context, name string) error {
	name, err := names.Domain(name)
	if err != nil {
		return err
	}
	return dbErr(s.write(ctx, nil, func(tx *wtx, e *effects) error {
		ok, err := exists(bg, tx, "SELECT 1 FROM domains WHERE name = ?", name)
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
	return d, dbErr(err)
}

// ListDomains implements store.Directory.
func (s *Store) ListDomains(ctx context.Context) ([]store.Domain, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT name, catch_all, created FROM domains ORDER BY name")
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	var out []store.Domain
	for rows.Next() {
		var d store.Domain
		var created int64
		if err := rows.Scan(&d.Name, &d.CatchAll, &created); err != nil {
			return nil, dbErr(err)
		}
		d.Created = fromNano(created)
		out = append(out, d)
	}
	return out, dbErr(rows.Err())
}

// RemoveDomain implements store.Directory.
func (s *Store) RemoveDomain(ctx context.Context, name string) error {
	name = strings.ToLower(strings.TrimSpace(name))
	return dbErr(s.write(ctx, nil, func(tx *wtx, e *effects) error {
		ok, err := exists(bg, tx, "SELECT 1 FROM domains WHERE name = ?", name)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: domain %s", store.ErrNotFound, name)
		}
		for _, q := range []string{"SELECT 1 FROM accounts WHERE domain = ? LIMIT 1", "SELECT 1 FROM aliases WHERE domain = ? LIMIT 1"} {
			used, err := exists(bg, tx, q, name)
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
	return dbErr(s.write(ctx, nil, func(tx *wtx, e *effects) error {
		if address != "" {
			ok, err := exists(bg, tx, "SELECT 1 FROM accounts WHERE address = ?", address)
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

// AddAccount implements store.Directory.
func (s *Store) AddAccount(ctx context.Context, address, passwordHash string) (store.Account, error) {
	return s.addAccount(ctx, address, passwordHash, "")
}

// AddSourcedAccount implements store.AccountSources: the account row
// (with its source and an empty, never matching password hash) and its
// mailboxes are written in one transaction, so a crash never leaves a
// directory user's account looking like one of the store's own.
func (s *Store) AddSourcedAccount(ctx context.Context, address, source string) (store.Account, error) {
	if source == "" {
		return store.Account{}, fmt.Errorf("%w: empty account source", store.ErrInvalidName)
	}
	return s.addAccount(ctx, address, "", source)
}

// addAccount creates an account from source ("" for the store's own, see
// sources.go) with its default mailboxes, in one transaction.
func (s *Store) addAccount(ctx context.Context, address, passwordHash, source string) (store.Account, error) {
	addr, dom, err := names.Address(address)
	if err != nil {
		return store.Account{}, err
	}
	acc := store.Account{Address: addr, PasswordHash: passwordHash}
	err = s.write(ctx, nil, func(tx *wtx, e *effects) error {
		if err := checkNewAddress(tx, addr, dom); err != nil {
			return err
		}
		now := nowNano()
		res, err := tx.ExecContext(bg, "INSERT INTO accounts(address, domain, password_hash, created, source) VALUES(?, ?, ?, ?, ?)", addr, dom, passwordHash, now, source)
		if err != nil {
			return err
		}
		acc.ID, err = res.LastInsertId()
		if err != nil {
			return err
		}
		acc.Created = fromNano(now)
		for _, mb := range store.DefaultMailboxes {
			if _, err := createMailbox(tx, acc.ID, mb.Name, mb.SpecialUse, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Account{}, dbErr(err)
	}
	return acc, nil
}

// GetAccount implements store.Directory.
func (s *Store) GetAccount(ctx context.Context, address string) (store.Account, error) {
	address = strings.ToLower(strings.TrimSpace(address))
	a, err := sqlstore.ScanAccount(s.rdb.QueryRowContext(ctx, "SELECT "+sqlstore.AccountCols+" FROM accounts WHERE address = ?", address))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Account{}, fmt.Errorf("%w: account %s", store.ErrNotFound, address)
	}
	return a, dbErr(err)
}

// GetAccountByID implements store.Directory.
func (s *Store) GetAccountByID(ctx context.Context, id int64) (store.Account, error) {
	a, err := sqlstore.ScanAccount(s.rdb.QueryRowContext(ctx, "SELECT "+sqlstore.AccountCols+" FROM accounts WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Account{}, fmt.Errorf("%w: account %d", store.ErrNotFound, id)
	}
	return a, dbErr(err)
}

// ListAccounts implements store.Directory.
func (s *Store) ListAccounts(ctx context.Context, domain string) ([]store.Account, error) {
	q, args := byDomain("SELECT "+sqlstore.AccountCols+" FROM accounts", domain)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := sqlstore.ScanAccount(rows)
		if err != nil {
			return nil, dbErr(err)
		}
		out = append(out, a)
	}
	return out, dbErr(rows.Err())
}

// RemoveAccount implements store.Directory.
func (s *Store) RemoveAccount(ctx context.Context, address string) error {
	address = strings.ToLower(strings.TrimSpace(address))
	return dbErr(s.write(ctx, nil, func(tx *wtx, e *effects) error {
		var id int64
		err := tx.QueryRowContext(bg, "SELECT id FROM accounts WHERE address = ?", address).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: account %s", store.ErrNotFound, address)
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(bg, "SELECT id FROM mailboxes WHERE account_id = ?", id)
		if err != nil {
			return err
		}
		var mbs []int64
		for rows.Next() {
			var m int64
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return err
			}
			mbs = append(mbs, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range mbs {
			if err := dropMailbox(tx, e, id, m); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(bg, "UPDATE domains SET catch_all = '' WHERE catch_all = ?", address); err != nil {
			return err
		}
		_, err = tx.ExecContext(bg, "DELETE FROM accounts WHERE id = ?", id)
		return err
	}))
}

func (s *Store) updateAccount(ctx context.Context, address, query string, arg any) error {
	address = strings.ToLower(strings.TrimSpace(address))
	return dbErr(s.write(ctx, nil, func(tx *wtx, e *effects) error {
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
	return dbErr(s.write(ctx, nil, func(tx *wtx, e *effects) error {
		if err := checkNewAddress(tx, addr, dom); err != nil {
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
	return a, dbErr(err)
}

// ListAliases implements store.Directory.
func (s *Store) ListAliases(ctx context.Context, domain string) ([]store.Alias, error) {
	q, args := byDomain("SELECT address, targets FROM aliases", domain)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr(err)
	}
	defer rows.Close()
	var out []store.Alias
	for rows.Next() {
		var a store.Alias
		var ts string
		if err := rows.Scan(&a.Address, &ts); err != nil {
			return nil, dbErr(err)
		}
		a.Targets = strings.Split(ts, "\n")
		out = append(out, a)
	}
	return out, dbErr(rows.Err())
}

// RemoveAlias implements store.Directory.
func (s *Store) RemoveAlias(ctx context.Context, address string) error {
	address = strings.ToLower(strings.TrimSpace(address))
	return dbErr(s.write(ctx, nil, func(tx *wtx, e *effects) error {
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
func checkNewAddress(tx *wtx, addr, dom string) error {
	ok, err := exists(bg, tx, "SELECT 1 FROM domains WHERE name = ?", dom)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: domain %s", store.ErrNotFound, dom)
	}
	ok, err = exists(bg, tx, "SELECT 1 FROM accounts WHERE address = ? UNION ALL SELECT 1 FROM aliases WHERE address = ?", addr, addr)
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
