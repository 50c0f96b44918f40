package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"pochta/internal/manage"
)

func (c *cli) queue(sub string, args []string) error {
	fs := flag.NewFlagSet("queue "+sub, flag.ContinueOnError)
	load := configFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	cfg, _, err := load()
	if err != nil {
		return err
	}
	ctx := context.Background()
	m, err := (&manage.Manager{Config: cfg}).Queue(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	switch sub {
	case "list":
		items, err := m.List(ctx)
		if err != nil {
			return err
		}
		for _, it := range items {
			var rcpts []string
			for _, r := range it.Recipients {
				rcpts = append(rcpts, fmt.Sprintf("%s (%s)", r.Address, r.Status))
			}
			fmt.Fprintf(c.stdout, "%s  %6d  %s  next %s\n  from <%s>\n  to %s\n", it.ID, it.Size,
				it.Created.Format(time.RFC3339), it.NextAttempt.Format(time.RFC3339), it.From, strings.Join(rcpts, ", "))
		}
		if len(items) == 0 {
			fmt.Fprintln(c.stdout, "queue is empty")
		}
		return nil
	case "flush":
		return m.Flush(ctx)
	}
	if err := want("queue "+sub, pos, 1, "ID"); err != nil {
		return err
	}
	switch sub {
	case "show":
		it, headers, err := m.Show(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "id:       %s\nfrom:     <%s>\ncreated:  %s\nnext try: %s\nsize:     %d\n", it.ID, it.From,
			it.Created.Format(time.RFC3339), it.NextAttempt.Format(time.RFC3339), it.Size)
		for _, r := range it.Recipients {
			fmt.Fprintf(c.stdout, "rcpt:     %s  %s  attempts %d  %s\n", r.Address, r.Status, r.Attempts, r.LastError)
		}
		fmt.Fprintf(c.stdout, "\n%s", headers)
		return nil
	case "retry":
		return m.Retry(ctx, pos[0])
	case "drop":
		return m.Drop(ctx, pos[0])
	}
	return nil
}
