package main

import (
	"context"
	"flag"
	"fmt"

	"pochta/internal/maildir"
	"pochta/internal/store"
)

func (c *cli) importMaildir(args []string) error {
	fs := flag.NewFlagSet("import maildir", flag.ContinueOnError)
	return withStore(fs, args, func(ctx context.Context, st store.Backend, pos []string) error {
		if err := want("import maildir", pos, 2, "DIR ADDRESS"); err != nil {
			return err
		}
		acct, err := account(ctx, st, pos[1])
		if err != nil {
			return err
		}
		n, err := maildir.Import(ctx, st, acct.ID, pos[0])
		fmt.Fprintf(c.stdout, "imported %d messages into %s\n", n, acct.Address)
		return err
	})
}

func (c *cli) exportMaildir(args []string) error {
	fs := flag.NewFlagSet("export maildir", flag.ContinueOnError)
	return withStore(fs, args, func(ctx context.Context, st store.Backend, pos []string) error {
		if err := want("export maildir", pos, 2, "ADDRESS DIR"); err != nil {
			return err
		}
		acct, err := account(ctx, st, pos[0])
		if err != nil {
			return err
		}
		n, err := maildir.Export(ctx, st, acct.ID, pos[1])
		fmt.Fprintf(c.stdout, "exported %d messages of %s\n", n, acct.Address)
		return err
	})
}
