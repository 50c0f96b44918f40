package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"pochta/internal/manage"
	"pochta/internal/store"
)

// withStore parses flags, opens the configured store and runs fn.
func withStore(fs *flag.FlagSet, args []string, fn func(ctx context.Context, st store.Backend, pos []string) error) error {
	return withManager(fs, args, func(ctx context.Context, m *manage.Manager, pos []string) error {
		return fn(ctx, m.Store, pos)
	})
}

// withManager parses flags, opens the configured store and runs fn with
// the actions shared with the web admin (internal/manage).
func withManager(fs *flag.FlagSet, args []string, fn func(ctx context.Context, m *manage.Manager, pos []string) error) error {
	load := configFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	cfg, _, err := load()
	if err != nil {
		return err
	}
	return withConfigStore(cfg, func(ctx context.Context, st store.Backend) error {
		return fn(ctx, &manage.Manager{Store: st, Config: cfg}, pos)
	})
}

func normDomain(s string) (string, error)  { return manage.NormDomain(s) }
func normAddress(s string) (string, error) { return manage.NormAddress(s) }

func (c *cli) domain(sub string, args []string) error {
	fs := flag.NewFlagSet("domain "+sub, flag.ContinueOnError)
	clear := fs.Bool("clear", false, "catchall: remove the catch-all")
	return withManager(fs, args, func(ctx context.Context, m *manage.Manager, pos []string) error {
		switch sub {
		case "list":
			ds, err := m.Store.ListDomains(ctx)
			if err != nil {
				return err
			}
			for _, d := range ds {
				policy := "reject unknown recipients"
				if d.CatchAll != "" {
					policy = "catch-all " + d.CatchAll
				}
				fmt.Fprintf(c.stdout, "%s\t%s\n", d.Name, policy)
			}
			return nil
		case "catchall":
			if *clear {
				if err := want("domain catchall --clear", pos, 1, "NAME"); err != nil {
					return err
				}
				return m.SetCatchAll(ctx, pos[0], "")
			}
			if err := want("domain catchall", pos, 2, "NAME ADDRESS"); err != nil {
				return err
			}
			return m.SetCatchAll(ctx, pos[0], pos[1])
		}
		if err := want("domain "+sub, pos, 1, "NAME"); err != nil {
			return err
		}
		if sub == "add" {
			d, err := m.AddDomain(ctx, pos[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "domain %s added; see `pochta dns records %s`\n", d, d)
			return nil
		}
		return m.RemoveDomain(ctx, pos[0])
	})
}

// readPassword takes the first line of stdin, or "" (a password is
// generated) without --password-stdin.
func (c *cli) readPassword(fromStdin bool) (string, error) {
	if !fromStdin {
		return "", nil
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("--password-stdin: no password on standard input")
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("--password-stdin: empty password")
	}
	return pw, nil
}

func (c *cli) user(sub string, args []string) error {
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	stdin := fs.Bool("password-stdin", false, "read the password from standard input")
	admin := fs.Bool("admin", false, "add: the account may use the web admin")
	return withManager(fs, args, func(ctx context.Context, m *manage.Manager, pos []string) error {
		switch sub {
		case "list":
			accts, err := m.Store.ListAccounts(ctx, optionalDomain(pos))
			if err != nil {
				return err
			}
			for _, a := range accts {
				used, _, err := m.Store.QuotaUsage(ctx, a.ID)
				if err != nil {
					return err
				}
				quota := "no quota"
				if a.QuotaBytes > 0 {
					quota = fmt.Sprintf("quota %d", a.QuotaBytes)
				}
				f, err := m.Store.AccountFlags(ctx, a.ID)
				if err != nil {
					return err
				}
				var flags string
				if f.Admin {
					flags += "\tadmin"
				}
				if f.Disabled {
					flags += "\tdisabled"
				}
				fmt.Fprintf(c.stdout, "%s\tused %d\t%s%s\n", a.Address, used, quota, flags)
			}
			return nil
		case "quota":
			if err := want("user quota", pos, 2, "ADDRESS SIZE"); err != nil {
				return err
			}
			n, err := manage.ParseSize(pos[1])
			if err != nil {
				return err
			}
			return m.SetQuota(ctx, pos[0], n)
		case "admin":
			if err := want("user admin", pos, 2, "ADDRESS on|off"); err != nil {
				return err
			}
			on, err := onOff(pos[1])
			if err != nil {
				return err
			}
			return m.SetAdmin(ctx, pos[0], on)
		}
		if err := want("user "+sub, pos, 1, "ADDRESS"); err != nil {
			return err
		}
		switch sub {
		case "remove":
			return m.RemoveAccount(ctx, pos[0])
		case "disable", "enable":
			return m.SetDisabled(ctx, pos[0], sub == "disable")
		case "add", "passwd":
			if sub == "add" { // a clear error before the password is asked for
				if _, err := m.CheckNewAccount(ctx, pos[0]); err != nil {
					return err
				}
			}
			pw, err := c.readPassword(*stdin)
			if err != nil {
				return err
			}
			var generated string
			if sub == "add" {
				generated, err = m.AddAccount(ctx, pos[0], pw, *admin)
			} else {
				generated, err = m.SetPassword(ctx, pos[0], pw)
			}
			if err != nil {
				return err
			}
			if generated != "" {
				addr, _ := normAddress(pos[0])
				fmt.Fprintf(c.stdout, "%s password: %s\n", addr, generated)
			}
		}
		return nil
	})
}

// onOff reads the on|off argument.
func onOff(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "on", "yes", "true":
		return true, nil
	case "off", "no", "false":
		return false, nil
	}
	return false, usagef("%q: want on or off", s)
}

func (c *cli) alias(sub string, args []string) error {
	fs := flag.NewFlagSet("alias "+sub, flag.ContinueOnError)
	return withManager(fs, args, func(ctx context.Context, m *manage.Manager, pos []string) error {
		switch sub {
		case "list":
			as, err := m.Store.ListAliases(ctx, optionalDomain(pos))
			if err != nil {
				return err
			}
			for _, a := range as {
				fmt.Fprintf(c.stdout, "%s\t%s\n", a.Address, strings.Join(a.Targets, ", "))
			}
			return nil
		case "remove":
			if err := want("alias remove", pos, 1, "ADDRESS"); err != nil {
				return err
			}
			return m.RemoveAlias(ctx, pos[0])
		}
		if len(pos) < 2 {
			return usagef("alias add takes ADDRESS TARGET...")
		}
		return m.AddAlias(ctx, pos[0], pos[1:])
	})
}

// optionalDomain is the lower-cased first argument, or "" (all domains).
func optionalDomain(pos []string) string {
	if len(pos) == 0 {
		return ""
	}
	return strings.ToLower(pos[0])
}
