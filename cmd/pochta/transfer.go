package main

import (
	"context"
	"flag"
	"fmt"

	"pochta/internal/maildir"
	"pochta/internal/store/sqlite"
)

func (c *cli) importMaildir(args []string) error {
	fs := flag.NewFlagSet("import maildir", flag.ContinueOnError)
	return withStore(fs, args, func(ctx context.Context, st *sqlite.Store, pos []string) error {
		if err := want("import maildir", pos, 2, "DIR ADDRESS"); err != nil {
			return err
		}
		addr, err := normAddress(pos[1])
		if err != nil {
			return err
		}
		acct, err := st.GetAccount(ctx, addr)
		if err != nil {
			return fmt.Errorf("account %s: %w", addr, err)
		}
		n, err := maildir.Import(ctx, st, acct.ID, pos[0])
		fmt.Fprintf(c.stdout, "imported %d messages into %s\n", n, addr)
		return err
	})
}

func (c *cli) exportMaildir(args []string) error {
	fs := flag.NewFlagSet("export maildir", flag.ContinueOnError)
	return withStore(fs, args, func(ctx context.Context, st *sqlite.Store, pos []string) error {
		if err := want("export maildir", pos, 2, "ADDRESS DIR"); err != nil {
			return err
		}
		addr, err := normAddress(pos[0])
		if err != nil {
			return err
		}
		acct, err := st.GetAccount(ctx, addr)
		if err != nil {
			return fmt.Errorf("account %s: %w", addr, err)
		}
		n, err := maildir.Export(ctx, st, acct.ID, pos[1])
		fmt.Fprintf(c.stdout, "exported %d messages of %s\n", n, addr)
		return err
	})
}
