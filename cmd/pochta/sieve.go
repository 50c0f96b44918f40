package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"pochta/internal/sieve"
	"pochta/internal/store"
)

// sieveCmd is `pochta sieve set|get|list ADDRESS [FILE]`: set installs a
// script (checked first) and activates it, get prints the active one,
// list names them all with the active one marked.
func (c *cli) sieveCmd(sub string, args []string) error {
	fs := flag.NewFlagSet("sieve "+sub, flag.ContinueOnError)
	name := fs.String("name", "", "script name for set (default: the file name without extension)")
	return withStore(fs, args, func(ctx context.Context, st store.Backend, pos []string) error {
		n := 1
		usage := "ADDRESS"
		if sub == "set" {
			n, usage = 2, "ADDRESS FILE (- for standard input)"
		}
		if err := want("sieve "+sub, pos, n, usage); err != nil {
			return err
		}
		acct, err := account(ctx, st, pos[0])
		if err != nil {
			return err
		}
		addr := acct.Address
		switch sub {
		case "get":
			sc, err := st.ActiveSieveScript(ctx, acct.ID)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%s has no active script (the default rule files X-Spam: Yes into Junk)", addr)
			}
			if err != nil {
				return err
			}
			_, err = io.WriteString(c.stdout, sc.Content)
			return err
		case "list":
			list, err := st.SieveScripts(ctx, acct.ID)
			if err != nil {
				return err
			}
			for _, sc := range list {
				mark := ""
				if sc.Active {
					mark = "\tactive"
				}
				fmt.Fprintf(c.stdout, "%s%s\n", sc.Name, mark)
			}
			return nil
		}
		var content []byte
		if pos[1] == "-" {
			content, err = io.ReadAll(io.LimitReader(c.stdin, sieve.MaxScriptSize+1))
		} else {
			content, err = os.ReadFile(pos[1])
		}
		if err != nil {
			return err
		}
		if _, err := sieve.Parse(string(content)); err != nil {
			return fmt.Errorf("%s: %w", pos[1], err)
		}
		nm := *name
		if nm == "" {
			nm = strings.TrimSuffix(filepath.Base(pos[1]), filepath.Ext(pos[1]))
			if pos[1] == "-" {
				nm = "main"
			}
		}
		if err := st.PutSieveScript(ctx, acct.ID, nm, string(content)); err != nil {
			return err
		}
		return st.ActivateSieveScript(ctx, acct.ID, nm)
	})
}
