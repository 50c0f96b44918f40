package acmecert

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"pochta/internal/store"
	"pochta/internal/tlscert"
)

// StatePrefix is where a Manager with Options.State keeps its files in
// the store's server state.
const StatePrefix = "acme/"

// http01State prefixes the answers to pending HTTP-01 challenges.
const http01State = StatePrefix + "http-01/"

// cache keeps the account key, the certificate key and the certificate
// chain (account.key, cert.key, cert.pem), as autocert's Cache does.
type cache interface {
	// get returns a file, or an error matching fs.ErrNotExist.
	get(ctx context.Context, name string) ([]byte, error)
	// put writes a file, replacing it.
	put(ctx context.Context, name string, data []byte) error
	// add writes a file only when it does not exist; an existing one is
	// kept and no error.
	add(ctx context.Context, name string, data []byte) error
}

// dirCache keeps the files in a folder (keys mode 0600).
type dirCache string

func (d dirCache) get(_ context.Context, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), name))
}

func (d dirCache) put(_ context.Context, name string, data []byte) error {
	mode := os.FileMode(0o600)
	if name == "cert.pem" {
		mode = 0o644
	}
	return tlscert.WriteFile(filepath.Join(string(d), name), data, mode)
}

func (d dirCache) add(ctx context.Context, name string, data []byte) error {
	return d.put(ctx, name, data) // one process per folder
}

// stateCache keeps the files in the store's server state.
type stateCache struct{ st store.ServerState }

func (c stateCache) get(ctx context.Context, name string) ([]byte, error) {
	b, err := c.st.GetState(ctx, StatePrefix+name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("acme: %s: %w", name, fs.ErrNotExist)
	}
	return b, err
}

func (c stateCache) put(ctx context.Context, name string, data []byte) error {
	return c.st.PutState(ctx, StatePrefix+name, data)
}

func (c stateCache) add(ctx context.Context, name string, data []byte) error {
	if err := c.st.AddState(ctx, StatePrefix+name, data); err != nil && !errors.Is(err, store.ErrExists) {
		return err
	}
	return nil
}

// renewClaim is held (with its time) by the node of a store that is
// renewing, so that nodes that find renewal due together, as at their
// first start, do not all order a certificate; a claim older than
// claimTTL is taken over (its node died).
const (
	renewClaim = StatePrefix + "renewing"
	claimTTL   = 10 * time.Minute
)

// errClaimed: another node of the store is renewing.
var errClaimed = errors.New("acme: another node of the store is renewing")

// claim reports whether this node may renew now: always without a
// shared store, else when no other node holds a fresh renewClaim.
func (m *Manager) claim(ctx context.Context) bool {
	st := m.opts.State
	if st == nil {
		return true
	}
	now := time.Now()
	stamp := []byte(now.UTC().Format(time.RFC3339Nano))
	err := st.AddState(ctx, renewClaim, stamp)
	if !errors.Is(err, store.ErrExists) {
		return true // claimed; or the store fails, and so will Renew, loudly
	}
	b, err := st.GetState(ctx, renewClaim)
	if t, perr := time.Parse(time.RFC3339Nano, string(b)); err == nil && perr == nil && now.Sub(t) < claimTTL {
		return false
	}
	return st.PutState(ctx, renewClaim, stamp) == nil
}

// unclaim gives renewClaim up after a renewal.
func (m *Manager) unclaim(ctx context.Context) {
	if m.opts.State != nil {
		m.opts.State.DeleteState(context.WithoutCancel(ctx), renewClaim)
	}
}
