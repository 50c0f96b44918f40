package app

import (
	"log/slog"

	"pochta/internal/config"
	"pochta/internal/directory/system"
)

// systemSource builds the "system" account source (the host's users) from
// [auth.system], for the place auth.sources names "system" (sources.go).
func systemSource(cfg *config.Config, log *slog.Logger) *system.Source {
	s := cfg.Auth.System
	return system.New(system.Options{
		Domain:     s.Domain,
		MinUID:     s.MinUID,
		MaxUID:     s.MaxUID,
		PAMService: s.PAMService,
		Logger:     log.With("component", "system-users"),
	})
}
