package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"pochta/internal/config"
	"pochta/internal/directory"
	"pochta/internal/directory/ldap"
	"pochta/internal/store"
)

// newSources builds the ordered account sources of [auth] sources. close
// releases what they hold (the LDAP connection pool).
func newSources(cfg *config.Config, st store.Backend, log *slog.Logger) (chain *directory.Chain, close func(), err error) {
	var sources []directory.Source
	var closers []func()
	close = func() {
		for _, c := range closers {
			c()
		}
	}
	for _, name := range cfg.Auth.Sources {
		switch name {
		case directory.Internal:
			sources = append(sources, directory.InternalSource())
		case "ldap":
			src, err := newLDAP(cfg.Auth.LDAP)
			if err != nil {
				close()
				return nil, nil, err
			}
			sources = append(sources, src)
			closers = append(closers, src.Close)
		case "system":
			sources = append(sources, systemSource(cfg, log))
		default:
			close()
			return nil, nil, fmt.Errorf("auth.sources: %q is not built into this program", name)
		}
	}
	chain = directory.New(st, sources, directory.Options{
		CacheTTL: time.Duration(cfg.Auth.LDAP.CacheSeconds) * time.Second,
		Timeout:  cfg.Auth.LDAP.Timeout.Duration,
		Logger:   log.With("component", "directory"),
	})
	return chain, close, nil
}

// newLDAP builds the "ldap" source, reading the service password.
func newLDAP(c config.LDAP) (*ldap.Source, error) {
	var password string
	if c.BindPasswordFile != "" {
		b, err := os.ReadFile(c.BindPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("auth.ldap.bind_password_file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	src, err := ldap.New(ldap.Options{
		URL:                c.URL,
		StartTLS:           c.StartTLS,
		CAFile:             c.CAFile,
		InsecureSkipVerify: c.InsecureSkipVerify,
		BindDN:             c.BindDN,
		BindPassword:       password,
		BaseDN:             c.BaseDN,
		UserFilter:         c.UserFilter,
		AddressAttributes:  c.AddressAttributes,
		GroupDN:            c.GroupDN,
		QuotaAttribute:     c.QuotaAttribute,
		Timeout:            c.Timeout.Duration,
	})
	if err != nil {
		return nil, fmt.Errorf("auth.ldap: %w", err)
	}
	return src, nil
}

// CheckSources builds the account sources of cfg and has each directory
// answer once (LDAP: connect and bind as the service account), for
// `pochta config check`. It returns what it checked, one line each.
func CheckSources(ctx context.Context, cfg *config.Config) ([]string, error) {
	var done []string
	for _, name := range cfg.Auth.Sources {
		if name != "ldap" {
			continue
		}
		src, err := newLDAP(cfg.Auth.LDAP)
		if err != nil {
			return done, err
		}
		err = src.Check(ctx)
		src.Close()
		if err != nil {
			return done, fmt.Errorf("auth.ldap: %w", err)
		}
		done = append(done, fmt.Sprintf("ldap: %s answers, service bind as %q OK", cfg.Auth.LDAP.URL, cfg.Auth.LDAP.BindDN))
	}
	return done, nil
}
