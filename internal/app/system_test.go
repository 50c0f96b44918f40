package app

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"pochta/internal/config"
	"pochta/internal/directory"
)

// TestSystemSource: [auth.system] reaches the source: its domain, and
// min_uid keeping root out.
func TestSystemSource(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.System.Domain = "example.test"
	src := systemSource(cfg, slog.New(slog.DiscardHandler))
	var _ directory.Source = src
	if src.Name() != "system" {
		t.Fatalf("name %q", src.Name())
	}
	for _, addr := range []string{"root@example.test", "root@other.test"} {
		if _, err := src.Lookup(context.Background(), addr); !errors.Is(err, directory.ErrUnknown) {
			t.Fatalf("Lookup(%s): %v", addr, err)
		}
	}
	// With min_uid lowered to 0 (config validation forbids it) root would be
	// found: the value from the config is what the source uses.
	cfg.Auth.System.MinUID = -1
	if _, err := systemSource(cfg, slog.New(slog.DiscardHandler)).Lookup(context.Background(), "root@example.test"); err != nil {
		t.Fatalf("min_uid not passed on: %v", err)
	}
}
