package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"pochta/internal/spam"
	"pochta/internal/store"
)

// spamTrain: pochta spam train ADDRESS --spam|--ham FILE|MAILDIR. It
// teaches the account's built-in Bayesian filter one message file, or
// every message of a Maildir folder (its cur/ and new/; subfolders are
// not descended into, so a Dovecot Maildir's .Junk is trained on its own).
func (c *cli) spamTrain(args []string) error {
	fs := flag.NewFlagSet("spam train", flag.ContinueOnError)
	isSpam := fs.Bool("spam", false, "the messages are spam")
	isHam := fs.Bool("ham", false, "the messages are not spam")
	return withStore(fs, args, func(ctx context.Context, st store.Backend, pos []string) error {
		if err := want("spam train", pos, 2, "ADDRESS --spam|--ham FILE|MAILDIR"); err != nil {
			return err
		}
		if *isSpam == *isHam {
			return usagef("spam train needs exactly one of --spam and --ham")
		}
		addr, err := normAddress(pos[0])
		if err != nil {
			return err
		}
		acct, err := st.GetAccount(ctx, addr)
		if err != nil {
			return fmt.Errorf("account %s: %w", addr, err)
		}
		files, err := messageFiles(pos[1])
		if err != nil {
			return err
		}
		f := spam.New(spam.Options{Store: st})
		n := 0
		for _, name := range files {
			if err := trainFile(ctx, f, acct.ID, name, *isSpam); err != nil {
				return fmt.Errorf("%s: %w (%d messages trained before it)", name, err, n)
			}
			n++
		}
		totals, _, err := st.SpamTokens(ctx, acct.ID, nil)
		if err != nil {
			return err
		}
		class := "ham"
		if *isSpam {
			class = "spam"
		}
		fmt.Fprintf(c.stdout, "trained %d messages as %s for %s (now %d spam, %d ham)\n", n, class, addr, totals.Spam, totals.Ham)
		return nil
	})
}

func trainFile(ctx context.Context, f *spam.Filter, accountID int64, name string, isSpam bool) error {
	r, err := os.Open(name)
	if err != nil {
		return err
	}
	defer r.Close()
	return f.Train(ctx, accountID, r, isSpam, false)
}

// messageFiles lists path itself when it is a file, or the messages in a
// Maildir folder's cur/ and new/, sorted.
func messageFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	var out []string
	found := false
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(path, sub))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		for _, e := range entries {
			if e.Type().IsRegular() && e.Name()[0] != '.' {
				out = append(out, filepath.Join(path, sub, e.Name()))
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%s is neither a message file nor a Maildir folder (no cur/ or new/)", path)
	}
	sort.Strings(out)
	return out, nil
}
