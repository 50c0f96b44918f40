package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"pochta/internal/app"
	"pochta/internal/config"
	"pochta/internal/store"
)

func (c *cli) serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	load := configFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := want("serve", pos, 0, "no arguments"); err != nil {
		return err
	}
	cfg, demo, err := load()
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	ctx := context.Background()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	if demo {
		if err := c.bootstrapDemo(ctx, a, cfg); err != nil {
			a.Shutdown(ctx)
			return err
		}
	}
	if err := a.Start(); err != nil {
		a.Shutdown(ctx)
		return err
	}
	c.printServices(a)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	s := <-sig
	for s == syscall.SIGHUP { // pick up `pochta queue` requests and new DKIM keys at once
		a.Queue.Rescan()
		a.ReloadKeys(ctx)
		s = <-sig
	}
	log.Info("shutting down", "signal", s.String())
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func newLogger(cfg *config.Config) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// bootstrapDemo makes the demo server usable at once: the domain
// "localhost" and one account whose password is printed on creation.
func (c *cli) bootstrapDemo(ctx context.Context, a *app.App, cfg *config.Config) error {
	const addr = "me@localhost"
	if _, err := a.Store.GetDomain(ctx, "localhost"); errors.Is(err, store.ErrNotFound) {
		if err := a.Store.AddDomain(ctx, "localhost"); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "pochta demo server (no config file), data in %s\n", cfg.DataDir)
	if _, err := a.Store.GetAccount(ctx, addr); err == nil {
		fmt.Fprintf(c.stdout, "account:  %s (password as printed at first start; reset: pochta user passwd %s)\n", addr, addr)
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// An admin, so the web admin (/admin/ on the http listener) works too.
	pw, err := a.Manager().AddAccount(ctx, addr, "", true)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "account:  %s (admin)\npassword: %s\n", addr, pw)
	return nil
}

func (c *cli) printServices(a *app.App) {
	addrs := a.Addrs()
	names := make([]string, 0, len(addrs))
	for n := range addrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, addr := range addrs[n] {
			fmt.Fprintf(c.stdout, "%-12s %s\n", n+":", addr)
		}
	}
	// The addresses to open in a browser.
	for _, scheme := range []string{"https", "http"} {
		if l := addrs[scheme]; len(l) > 0 {
			fmt.Fprintf(c.stdout, "%-12s %s://%s/\n%-12s %s://%s/admin/\n", "webmail:", scheme, l[0], "admin:", scheme, l[0])
			break
		}
	}
}
