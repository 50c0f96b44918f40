package main

import (
	"context"
	"flag"
	"fmt"

	"log/slog"

	"pochta/internal/app"
	"pochta/internal/config"
	"pochta/internal/manage"
	"pochta/internal/store"
)

func (c *cli) dkimKeygen(args []string) error {
	fs := flag.NewFlagSet("dkim keygen", flag.ContinueOnError)
	selector := fs.String("selector", "pochta", "DKIM selector")
	algo := fs.String("algo", "ed25519", "ed25519 or rsa")
	cfg, d, err := domainCommand(fs, args)
	if err != nil {
		return err
	}
	var record string
	err = withConfigStore(cfg, func(ctx context.Context, st store.Backend) error {
		record, err = (&manage.Manager{Store: st, Config: cfg}).DKIMKeygen(d, *selector, *algo) // in the store: every node signs with it
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, record)
	fmt.Fprintln(c.stdout, "(every node signs with it within a minute, or at once after SIGHUP)")
	return nil
}

// withConfigStore opens cfg's store, brings in what data_dir still holds
// (app.ImportLocalState), runs fn and closes the store.
func withConfigStore(cfg *config.Config, fn func(ctx context.Context, st store.Backend) error) error {
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	err = app.ImportLocalState(ctx, cfg, st, slog.New(slog.DiscardHandler))
	if err == nil {
		err = fn(ctx, st)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *cli) dnsRecords(args []string) error {
	fs := flag.NewFlagSet("dns records", flag.ContinueOnError)
	cfg, d, err := domainCommand(fs, args)
	if err != nil {
		return err
	}
	var records string
	err = withConfigStore(cfg, func(ctx context.Context, st store.Backend) error {
		records, err = (&manage.Manager{Store: st, Config: cfg}).DNSRecords(d)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprint(c.stdout, records)
	return nil
}

// domainCommand parses the flags of a command that takes one DOMAIN and
// loads the configuration.
func domainCommand(fs *flag.FlagSet, args []string) (*config.Config, string, error) {
	load := configFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, "", err
	}
	if err := want(fs.Name(), pos, 1, "DOMAIN"); err != nil {
		return nil, "", err
	}
	cfg, _, err := load()
	if err != nil {
		return nil, "", err
	}
	d, err := normDomain(pos[0])
	return cfg, d, err
}
