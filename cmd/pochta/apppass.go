package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"pochta/internal/auth"
	"pochta/internal/store"
)

// appPassword implements `pochta user app-password add|list|remove`.
func (c *cli) appPassword(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usagef("user app-password needs add, list or remove")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("user app-password "+sub, flag.ContinueOnError)
	protocols := fs.String("protocols", "", "add: comma-separated protocols the password is limited to ("+strings.Join(auth.AppProtocols, ", ")+"); empty: all")
	return withStore(fs, args, func(ctx context.Context, st store.Backend, pos []string) error {
		n, names := 2, "ADDRESS NAME"
		switch sub {
		case "list":
			n, names = 1, "ADDRESS"
		case "add", "remove":
		default:
			return usagef("unknown command %q", "user app-password "+sub)
		}
		if err := want("user app-password "+sub, pos, n, names); err != nil {
			return err
		}
		acct, err := account(ctx, st, pos[0])
		if err != nil {
			return err
		}
		switch sub {
		case "list":
			ps, err := st.AppPasswords(ctx, acct.ID)
			if err != nil {
				return err
			}
			for _, p := range ps {
				protos := "all protocols"
				if len(p.Protocols) > 0 {
					protos = strings.Join(p.Protocols, ",")
				}
				fmt.Fprintf(c.stdout, "%s\t%s\tcreated %s\n", p.Name, protos, p.Created.Format("2006-01-02 15:04"))
			}
			return nil
		case "remove":
			if err := st.RemoveAppPassword(ctx, acct.ID, pos[1]); err != nil {
				return fmt.Errorf("app password %q of %s: %w", pos[1], acct.Address, err)
			}
			return nil
		}
		var protos []string
		for _, p := range strings.Split(*protocols, ",") {
			p = strings.ToLower(strings.TrimSpace(p))
			if p == "" {
				continue
			}
			if !slices.Contains(auth.AppProtocols, p) {
				return fmt.Errorf("--protocols: %q is not one of %s", p, strings.Join(auth.AppProtocols, ", "))
			}
			protos = append(protos, p)
		}
		secret := auth.GenerateAppPassword()
		_, err = st.AddAppPassword(ctx, store.AppPassword{AccountID: acct.ID, Name: pos[1], Hash: auth.AppPasswordHash(secret), Protocols: protos})
		if err != nil {
			return fmt.Errorf("app password %q of %s: %w", pos[1], acct.Address, err)
		}
		fmt.Fprintf(c.stdout, "%s app password %q: %s\n(shown only now; it is stored hashed)\n", acct.Address, pos[1], secret)
		return nil
	})
}

// mainPassword implements `pochta user main-password allow|refuse ADDRESS`.
func (c *cli) mainPassword(args []string) error {
	if len(args) == 0 || (args[0] != "allow" && args[0] != "refuse") {
		return usagef("user main-password needs allow or refuse")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("user main-password "+sub, flag.ContinueOnError)
	return withStore(fs, args, func(ctx context.Context, st store.Backend, pos []string) error {
		if err := want("user main-password "+sub, pos, 1, "ADDRESS"); err != nil {
			return err
		}
		acct, err := account(ctx, st, pos[0])
		if err != nil {
			return err
		}
		return st.SetMainPasswordRefused(ctx, acct.ID, sub == "refuse")
	})
}

// account finds the store account of an address given on the command line.
func account(ctx context.Context, st store.Backend, addr string) (store.Account, error) {
	a, err := normAddress(addr)
	if err != nil {
		return store.Account{}, err
	}
	acct, err := st.GetAccount(ctx, a)
	if err != nil {
		return store.Account{}, fmt.Errorf("user %s: %w", a, err)
	}
	return acct, nil
}
