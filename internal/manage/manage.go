// Package manage holds the administrative actions — domains, accounts,
// aliases, the queue, DKIM keys, the DNS records to publish — as one
// function each, shared by the command line (cmd/pochta) and the web
// admin (internal/admin), so both check and change exactly alike.
package manage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"pochta/internal/auth"
	"pochta/internal/config"
	"pochta/internal/dkim"
	"pochta/internal/envelope"
	"pochta/internal/queue"
	"pochta/internal/store"
)

// Manager performs the actions on one configured store.
type Manager struct {
	Store  store.Backend
	Config *config.Config
}

// NormDomain lower-cases a domain name and refuses what is not one.
func NormDomain(s string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if d == "" || strings.ContainsAny(d, " @/\\\t\"<>;") || strings.Contains(d, "..") {
		return "", fmt.Errorf("%q is not a domain name", s)
	}
	return d, nil
}

// NormAddress lower-cases an address (user@domain) and refuses what is
// not one.
func NormAddress(s string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(s))
	i := strings.LastIndexByte(a, '@')
	if i <= 0 || i == len(a)-1 || strings.ContainsAny(a, " \t<>\"") {
		return "", fmt.Errorf("%q is not an address (user@domain)", s)
	}
	if _, err := NormDomain(a[i+1:]); err != nil {
		return "", err
	}
	return a, nil
}

// ParseSize reads "1048576", "100M", "2G".
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	switch {
	case strings.HasSuffix(strings.ToUpper(s), "K"):
		mult = 1 << 10
	case strings.HasSuffix(strings.ToUpper(s), "M"):
		mult = 1 << 20
	case strings.HasSuffix(strings.ToUpper(s), "G"):
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}

// AddDomain starts serving a domain; it returns the normalised name.
func (m *Manager) AddDomain(ctx context.Context, name string) (string, error) {
	d, err := NormDomain(name)
	if err != nil {
		return "", err
	}
	if err := m.Store.AddDomain(ctx, d); err != nil {
		return "", fmt.Errorf("domain %s: %w", d, err)
	}
	return d, nil
}

// RemoveDomain stops serving a domain that has no accounts or aliases left.
func (m *Manager) RemoveDomain(ctx context.Context, name string) error {
	d, err := NormDomain(name)
	if err != nil {
		return err
	}
	if err := m.Store.RemoveDomain(ctx, d); err != nil {
		if errors.Is(err, store.ErrInUse) {
			return fmt.Errorf("domain %s still has accounts or aliases; remove them first", d)
		}
		return fmt.Errorf("domain %s: %w", d, err)
	}
	return nil
}

// SetCatchAll delivers a domain's unknown recipients to an existing
// account; address "" rejects them again (the default).
func (m *Manager) SetCatchAll(ctx context.Context, domain, address string) error {
	d, err := NormDomain(domain)
	if err != nil {
		return err
	}
	if address == "" {
		return m.Store.SetCatchAll(ctx, d, "")
	}
	a, err := NormAddress(address)
	if err != nil {
		return err
	}
	if _, err := m.Store.GetAccount(ctx, a); err != nil {
		return fmt.Errorf("catch-all %s: %w", a, err)
	}
	return m.Store.SetCatchAll(ctx, d, a)
}

// CheckNewAccount says whether address can become an account here (a
// valid address in a served domain), before anything is asked or
// written; it returns the address normalised.
func (m *Manager) CheckNewAccount(ctx context.Context, address string) (string, error) {
	addr, err := NormAddress(address)
	if err != nil {
		return "", err
	}
	if _, err := m.Store.GetDomain(ctx, envelope.Domain(addr)); errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("domain %s is not served here; add it first: pochta domain add %s", envelope.Domain(addr), envelope.Domain(addr))
	}
	return addr, nil
}

// AddAccount creates an account in a served domain with password, or a
// generated one when password is ""; it returns the generated password
// ("" when one was given).
func (m *Manager) AddAccount(ctx context.Context, address, password string, admin bool) (string, error) {
	addr, err := m.CheckNewAccount(ctx, address)
	if err != nil {
		return "", err
	}
	pw, generated, hash, err := hashPassword(password)
	if err != nil {
		return "", err
	}
	acct, err := m.Store.AddAccount(ctx, addr, hash)
	if err != nil {
		return "", fmt.Errorf("user %s: %w", addr, err)
	}
	if admin {
		if err := m.Store.SetAccountFlags(ctx, acct.ID, store.AccountFlags{Admin: true}); err != nil {
			return "", fmt.Errorf("user %s: %w", addr, err)
		}
	}
	// The SCRAM verifier beside the hash (RFC 5802 §3).
	if err := auth.SetSCRAMKeys(ctx, m.Store, addr, hash, pw); err != nil {
		return "", fmt.Errorf("user %s: %w", addr, err)
	}
	return generated, nil
}

// SetPassword replaces an account's password (a generated one when
// password is ""; it is returned).
func (m *Manager) SetPassword(ctx context.Context, address, password string) (string, error) {
	addr, err := NormAddress(address)
	if err != nil {
		return "", err
	}
	pw, generated, hash, err := hashPassword(password)
	if err != nil {
		return "", err
	}
	if err := m.Store.SetPasswordHash(ctx, addr, hash); err != nil {
		return "", fmt.Errorf("user %s: %w", addr, err)
	}
	if err := auth.SetSCRAMKeys(ctx, m.Store, addr, hash, pw); err != nil {
		return "", fmt.Errorf("user %s: %w", addr, err)
	}
	// Whoever knew the old password is logged out of the webmail on every
	// browser (the store's sessions are every node's), and of every open
	// IMAP, POP3, ManageSieve and JMAP push session (internal/revocation).
	acct, err := m.Store.GetAccount(ctx, addr)
	if err == nil {
		_, err = m.Store.RemoveWebSessions(ctx, acct.ID)
	}
	if err == nil {
		err = m.Store.AddAccountEvent(ctx, acct.ID)
	}
	if err != nil {
		return "", fmt.Errorf("user %s: ending sessions: %w", addr, err)
	}
	return generated, nil
}

// hashPassword hashes password, or a generated one when it is "" (then
// also returned as generated).
func hashPassword(password string) (pw, generated, hash string, err error) {
	pw = password
	if pw == "" {
		pw = auth.GeneratePassword()
		generated = pw
	}
	hash, err = auth.Hash(pw)
	return pw, generated, hash, err
}

// RemoveAccount deletes an account with all its mail.
func (m *Manager) RemoveAccount(ctx context.Context, address string) error {
	addr, err := NormAddress(address)
	if err != nil {
		return err
	}
	acct, err := m.Store.GetAccount(ctx, addr)
	if err != nil {
		return fmt.Errorf("user %s: %w", addr, err)
	}
	if err := m.Store.RemoveAccount(ctx, addr); err != nil {
		return err
	}
	// Its open sessions end on every node (internal/revocation).
	return m.Store.AddAccountEvent(ctx, acct.ID)
}

// SetQuota sets an account's quota in bytes (0: none).
func (m *Manager) SetQuota(ctx context.Context, address string, bytes int64) error {
	addr, err := NormAddress(address)
	if err != nil {
		return err
	}
	return m.Store.SetQuota(ctx, addr, bytes)
}

// SetAdmin lets an account use the web admin, or not.
func (m *Manager) SetAdmin(ctx context.Context, address string, on bool) error {
	_, err := m.editFlags(ctx, address, func(f *store.AccountFlags) { f.Admin = on })
	return err
}

// SetDisabled refuses (or allows again) every login of an account; its
// mail is still delivered.
// Disabling also ends the account's open sessions on every node: IMAP,
// POP3, ManageSieve and JMAP push (internal/revocation); the webmail's
// stop at their next request (internal/web).
func (m *Manager) SetDisabled(ctx context.Context, address string, on bool) error {
	id, err := m.editFlags(ctx, address, func(f *store.AccountFlags) { f.Disabled = on })
	if err != nil || !on {
		return err
	}
	return m.Store.AddAccountEvent(ctx, id)
}

// editFlags changes an account's flags and returns its id.
func (m *Manager) editFlags(ctx context.Context, address string, edit func(*store.AccountFlags)) (int64, error) {
	addr, err := NormAddress(address)
	if err != nil {
		return 0, err
	}
	acct, err := m.Store.GetAccount(ctx, addr)
	if err != nil {
		return 0, fmt.Errorf("user %s: %w", addr, err)
	}
	f, err := m.Store.AccountFlags(ctx, acct.ID)
	if err != nil {
		return 0, fmt.Errorf("user %s: %w", addr, err)
	}
	edit(&f)
	return acct.ID, m.Store.SetAccountFlags(ctx, acct.ID, f)
}

// AddAlias delivers address (in a served domain) to targets; each target
// may hold several addresses separated by commas.
func (m *Manager) AddAlias(ctx context.Context, address string, targets []string) error {
	addr, err := NormAddress(address)
	if err != nil {
		return err
	}
	if _, err := m.Store.GetDomain(ctx, envelope.Domain(addr)); err != nil {
		return fmt.Errorf("domain %s: %w", envelope.Domain(addr), err)
	}
	var list []string
	for _, t := range targets {
		for _, part := range strings.Split(t, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			n, err := NormAddress(part)
			if err != nil {
				return err
			}
			list = append(list, n)
		}
	}
	if len(list) == 0 {
		return fmt.Errorf("alias %s: no target", addr)
	}
	if err := m.Store.AddAlias(ctx, addr, list); err != nil {
		return fmt.Errorf("alias %s: %w", addr, err)
	}
	return nil
}

// RemoveAlias deletes an alias.
func (m *Manager) RemoveAlias(ctx context.Context, address string) error {
	a, err := NormAddress(address)
	if err != nil {
		return err
	}
	return m.Store.RemoveAlias(ctx, a)
}

// Queue opens the queue's manager: the file spool in data_dir, or the
// PostgreSQL spool shared by the nodes. Close it after use.
func (m *Manager) Queue(ctx context.Context) (queue.Manager, error) {
	if m.Config.Store.Backend == "postgres" {
		return queue.OpenPostgresManager(ctx, m.Config.Store.PostgresURL)
	}
	return queue.FileManager(filepath.Join(m.Config.DataDir, "queue")), nil
}

// DKIMKeygen creates a DKIM key for domain in the store and returns its
// DNS record; every running node signs with it within a minute (at once
// on SIGHUP).
func (m *Manager) DKIMKeygen(domain, selector, algo string) (string, error) {
	d, err := NormDomain(domain)
	if err != nil {
		return "", err
	}
	return dkim.KeygenState(context.Background(), m.Store, d, selector, algo)
}

// DKIMKeys lists the DKIM keys in the store.
func (m *Manager) DKIMKeys() ([]dkim.Key, error) {
	signer, err := dkim.LoadStateSigner(context.Background(), m.Store)
	if err != nil {
		return nil, err
	}
	return signer.Keys(), nil
}
