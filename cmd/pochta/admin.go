package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"pochta/internal/auth"
	"pochta/internal/envelope"
	"pochta/internal/store"
)

// withStore parses flags, opens the configured store and runs fn.
func withStore(fs *flag.FlagSet, args []string, fn func(ctx context.Context, st store.Backend, pos []string) error) error {
	load := configFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	cfg, _, err := load()
	if err != nil {
		return err
	}
	return withConfigStore(cfg, func(ctx context.Context, st store.Backend) error { return fn(ctx, st, pos) })
}

func normDomain(s string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if d == "" || strings.ContainsAny(d, " @/\\\t") || strings.Contains(d, "..") {
		return "", fmt.Errorf("%q is not a domain name", s)
	}
	return d, nil
}

func normAddress(s string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(s))
	i := strings.LastIndexByte(a, '@')
	if i <= 0 || i == len(a)-1 || strings.ContainsAny(a, " \t<>") {
		return "", fmt.Errorf("%q is not an address (user@domain)", s)
	}
	if _, err := normDomain(a[i+1:]); err != nil {
		return "", err
	}
	return a, nil
}

func (c *cli) domain(sub string, args []string) error {
	fs := flag.NewFlagSet("domain "+sub, flag.ContinueOnError)
	clear := fs.Bool("clear", false, "catchall: remove the catch-all")
	return withStore(fs, args, func(ctx context.Context, st store.Backend, pos []string) error {
		switch sub {
		case "list":
			ds, err := st.ListDomains(ctx)
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
				d, err := normDomain(pos[0])
				if err != nil {
					return err
				}
				return st.SetCatchAll(ctx, d, "")
			}
			if err := want("domain catchall", pos, 2, "NAME ADDRESS"); err != nil {
				return err
			}
			d, err := normDomain(pos[0])
			if err != nil {
				return err
			}
			a, err := normAddress(pos[1])
			if err != nil {
				return err
			}
			if _, err := st.GetAccount(ctx, a); err != nil {
				return fmt.Errorf("catch-all %s: %w", a, err)
			}
			return st.SetCatchAll(ctx, d, a)
		}
		if err := want("domain "+sub, pos, 1, "NAME"); err != nil {
			return err
		}
		d, err := normDomain(pos[0])
		if err != nil {
			return err
		}
		if sub == "add" {
			if err := st.AddDomain(ctx, d); err != nil {
				return fmt.Errorf("domain %s: %w", d, err)
			}
			fmt.Fprintf(c.stdout, "domain %s added; see `pochta dns records %s`\n", d, d)
			return nil
		}
		if err := st.RemoveDomain(ctx, d); err != nil {
			if errors.Is(err, store.ErrInUse) {
				return fmt.Errorf("domain %s still has accounts or aliases; remove them first", d)
			}
			return fmt.Errorf("domain %s: %w", d, err)
		}
		return nil
	})
}

// readPassword takes the first line of stdin, or generates a password.
func (c *cli) readPassword(fromStdin bool) (pw string, generated bool, err error) {
	if !fromStdin {
		return auth.GeneratePassword(), true, nil
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", false, errors.New("--password-stdin: no password on standard input")
	}
	pw = strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", false, errors.New("--password-stdin: empty password")
	}
	return pw, false, nil
}

func (c *cli) user(sub string, args []string) error {
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	stdin := fs.Bool("password-stdin", false, "read the password from standard input")
	return withStore(fs, args, func(ctx context.Context, st store.Backend, pos []string) error {
		switch sub {
		case "list":
			domain := optionalDomain(pos)
			accts, err := st.ListAccounts(ctx, domain)
			if err != nil {
				return err
			}
			for _, a := range accts {
				used, _, err := st.QuotaUsage(ctx, a.ID)
				if err != nil {
					return err
				}
				quota := "no quota"
				if a.QuotaBytes > 0 {
					quota = fmt.Sprintf("quota %d", a.QuotaBytes)
				}
				fmt.Fprintf(c.stdout, "%s\tused %d\t%s\n", a.Address, used, quota)
			}
			return nil
		case "quota":
			if err := want("user quota", pos, 2, "ADDRESS SIZE"); err != nil {
				return err
			}
			a, err := normAddress(pos[0])
			if err != nil {
				return err
			}
			n, err := parseSize(pos[1])
			if err != nil {
				return err
			}
			return st.SetQuota(ctx, a, n)
		}
		if err := want("user "+sub, pos, 1, "ADDRESS"); err != nil {
			return err
		}
		addr, err := normAddress(pos[0])
		if err != nil {
			return err
		}
		switch sub {
		case "remove":
			return st.RemoveAccount(ctx, addr)
		case "add", "passwd":
			if sub == "add" {
				if _, err := st.GetDomain(ctx, envelope.Domain(addr)); errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("domain %s is not served here; add it first: pochta domain add %s", envelope.Domain(addr), envelope.Domain(addr))
				}
			}
			pw, generated, err := c.readPassword(*stdin)
			if err != nil {
				return err
			}
			hash, err := auth.Hash(pw)
			if err != nil {
				return err
			}
			if sub == "add" {
				if _, err := st.AddAccount(ctx, addr, hash); err != nil {
					return fmt.Errorf("user %s: %w", addr, err)
				}
			} else if err := st.SetPasswordHash(ctx, addr, hash); err != nil {
				return fmt.Errorf("user %s: %w", addr, err)
			}
			// The SCRAM verifier beside the hash (RFC 5802 §3).
			if err := auth.SetSCRAMKeys(ctx, st, addr, hash, pw); err != nil {
				return fmt.Errorf("user %s: %w", addr, err)
			}
			if generated {
				fmt.Fprintf(c.stdout, "%s password: %s\n", addr, pw)
			}
			return nil
		}
		return nil
	})
}

// parseSize reads "1048576", "100M", "2G".
func parseSize(s string) (int64, error) {
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

func (c *cli) alias(sub string, args []string) error {
	fs := flag.NewFlagSet("alias "+sub, flag.ContinueOnError)
	return withStore(fs, args, func(ctx context.Context, st store.Backend, pos []string) error {
		switch sub {
		case "list":
			domain := optionalDomain(pos)
			as, err := st.ListAliases(ctx, domain)
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
			a, err := normAddress(pos[0])
			if err != nil {
				return err
			}
			return st.RemoveAlias(ctx, a)
		}
		if len(pos) < 2 {
			return usagef("alias add takes ADDRESS TARGET...")
		}
		addr, err := normAddress(pos[0])
		if err != nil {
			return err
		}
		if _, err := st.GetDomain(ctx, envelope.Domain(addr)); err != nil {
			return fmt.Errorf("domain %s: %w", envelope.Domain(addr), err)
		}
		var targets []string
		for _, t := range pos[1:] {
			for _, part := range strings.Split(t, ",") {
				if part = strings.TrimSpace(part); part == "" {
					continue
				}
				n, err := normAddress(part)
				if err != nil {
					return err
				}
				targets = append(targets, n)
			}
		}
		if err := st.AddAlias(ctx, addr, targets); err != nil {
			return fmt.Errorf("alias %s: %w", addr, err)
		}
		return nil
	})
}

// optionalDomain is the lower-cased first argument, or "" (all domains).
func optionalDomain(pos []string) string {
	if len(pos) == 0 {
		return ""
	}
	return strings.ToLower(pos[0])
}
