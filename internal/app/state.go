package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"pochta/internal/acmecert"
	"pochta/internal/config"
	"pochta/internal/dkim"
	"pochta/internal/mtasts"
	"pochta/internal/srs"
	"pochta/internal/store"
)

// ImportLocalState copies what earlier versions kept in data_dir into
// the store's server state, where every node of the store finds it: DKIM
// keys (data_dir/dkim), the generated SRS secret (data_dir/srs/secret),
// the ACME account key, certificate key and certificate (data_dir/acme)
// and the MTA-STS policy cache. What the store already has is kept, so
// this runs at every open and does something only once. The files are
// left in place (an older version can still run on them).
func ImportLocalState(ctx context.Context, cfg *config.Config, st store.ServerState, log *slog.Logger) error {
	n, err := dkim.ImportDir(ctx, st, filepath.Join(cfg.DataDir, "dkim"))
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("dkim keys imported from data_dir into the store", "keys", n)
	}
	files := map[string]string{
		srs.StateName:    filepath.Join(cfg.DataDir, "srs", "secret"),
		mtasts.StateName: filepath.Join(cfg.DataDir, "mtasts", "policies.json"),
	}
	for _, f := range []string{"account.key", "cert.key", "cert.pem"} {
		files[acmecert.StatePrefix+f] = filepath.Join(cfg.DataDir, "acme", f)
	}
	for name, path := range files {
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("importing %s: %w", path, err)
		}
		switch err := st.AddState(ctx, name, data); {
		case err == nil:
			log.Info("imported from data_dir into the store", "file", path)
		case !errors.Is(err, store.ErrExists):
			return fmt.Errorf("importing %s: %w", path, err)
		}
	}
	return nil
}

// keysReload is how often a node reloads the DKIM keys from the store, so
// that a key made with `pochta dkim keygen` (on any node) is used by every
// node within it without a restart.
const keysReload = time.Minute

func (a *App) reloadKeysEvery(ctx context.Context, every time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		a.ReloadKeys(ctx)
	}
}

// ReloadKeys loads the DKIM keys from the store again (also on SIGHUP); on
// failure the keys in use stay.
func (a *App) ReloadKeys(ctx context.Context) {
	signer, err := dkim.LoadStateSigner(ctx, a.Store)
	if err != nil {
		a.log.Error("dkim keys not reloaded, the old ones stay", "err", err)
		return
	}
	if old := a.outbound.signer.Swap(signer); len(old.Keys()) != len(signer.Keys()) {
		a.log.Info("dkim keys reloaded", "keys", len(signer.Keys()))
	}
}
