package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"pochta/internal/auth"
	"pochta/internal/store"
	"pochta/internal/store/sqlite"
)

// fillMessage is message i of a benchmark mailbox: small, with a subject
// and a body word that recur every `distinct` messages, so that
// "UID SEARCH SUBJECT subject0042" or "BODY token0042" finds 1 in
// `distinct` messages of any size of mailbox.
func fillMessage(i, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: <sender%d@example.test>\r\nTo: <me@bench.localhost>\r\nSubject: bench subject%04d\r\n"+
		"Date: Mon, 30 Nov 2026 12:00:00 +0000\r\nMessage-ID: <fill%d@example.test>\r\n\r\n", i%97, i, i)
	fmt.Fprintf(&b, "Body of message token%04d.\r\n", i)
	line := "The quick brown fox jumps over the lazy dog, again and again.\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return []byte(b.String())
}

// runFill fills one mailbox of a stopped pochta's SQLite store with
// -messages messages, fast: -distinct different messages are delivered
// (32 at once, each fsynced as in SMTP delivery), then copied into the
// mailbox again and again with the store's COPY, which adds rows that
// share the content files — one transaction per copy of -distinct
// messages instead of one per message. Metadata and search index rows are
// real per message, so SELECT, FETCH and SEARCH see a mailbox of the full
// size; only the disk holds -distinct message files.
func runFill(args []string) {
	fs := flag.NewFlagSet("fill", flag.ExitOnError)
	dataDir := fs.String("data-dir", "", "pochta's data_dir (pochta must not be running)")
	user := fs.String("user", "", "account address")
	mailbox := fs.String("mailbox", "INBOX", "mailbox to fill")
	total := fs.Int("messages", 10000, "messages in the mailbox at the end (bounded: at most 2,000,000)")
	distinct := fs.Int("distinct", 1000, "different messages (the rest are copies)")
	size := fs.Int("size", 1024, "message size in bytes")
	maxTime := fs.Duration("max-time", 10*time.Minute, "give up after this long")
	fs.Parse(args)
	if *dataDir == "" || *user == "" || *total <= 0 || *total > 2000000 || *distinct <= 0 {
		fmt.Fprintln(os.Stderr, "mailbench fill: need -data-dir, -user, 0 < -messages <= 2000000, -distinct > 0")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *maxTime)
	defer cancel()
	start := time.Now()
	n, err := fill(ctx, filepath.Join(*dataDir, "store"), *user, *mailbox, *total, min(*distinct, *total), *size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailbench fill:", err)
		os.Exit(1)
	}
	fmt.Printf("user=%s mailbox=%s messages=%d elapsed=%.1fs\n", *user, *mailbox, n, time.Since(start).Seconds())
}

// fill brings the mailbox to total messages and returns how many it holds.
func fill(ctx context.Context, dir, user, mailbox string, total, distinct, size int) (int, error) {
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	acct, err := st.GetAccount(ctx, user)
	if err != nil {
		return 0, fmt.Errorf("account %s: %w", user, err)
	}
	// The distinct messages go to a seed mailbox first, so that each copy
	// round is one COPY of the whole seed.
	seedName := "BenchSeed"
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < distinct; i += 32 {
				_, err := st.Deliver(ctx, strings.NewReader(string(fillMessage(i, size))),
					[]store.Target{{AccountID: acct.ID, Mailbox: seedName}})
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	seed, err := st.GetMailbox(ctx, acct.ID, seedName)
	if err != nil {
		return 0, err
	}
	dst, err := st.GetMailbox(ctx, acct.ID, mailbox)
	if err != nil {
		return 0, fmt.Errorf("mailbox %s: %w", mailbox, err)
	}
	stat, err := st.Status(ctx, dst.ID)
	if err != nil {
		return 0, err
	}
	have := int(stat.Messages)
	for have < total {
		if err := ctx.Err(); err != nil {
			return have, err
		}
		var set store.UIDSet // nil: the whole seed
		if left := total - have; left < distinct {
			set = store.UIDSet{{Start: 1, Stop: uint32(left)}}
		}
		pairs, err := st.Copy(ctx, seed.ID, set, dst.ID)
		if err != nil {
			return have, err
		}
		have += len(pairs)
	}
	return have, st.DeleteMailbox(ctx, acct.ID, seedName)
}

// runHash prints the argon2id hash pochta stores for the password on
// stdin (PHC string format), for giving Dovecot the same hash and cost
// (its ARGON2ID scheme verifies PHC strings with libsodium).
func runHash(args []string) {
	var pass string
	if _, err := fmt.Fscan(os.Stdin, &pass); err != nil {
		fmt.Fprintln(os.Stderr, "mailbench hash: a password on stdin:", err)
		os.Exit(2)
	}
	h, err := auth.Hash(pass)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailbench hash:", err)
		os.Exit(1)
	}
	fmt.Println(h)
}

// runMaildir writes a Maildir (new/, cur/, tmp/) of -messages messages of
// -size bytes, for importing the same mail into pochta and serving it with
// Dovecot.
func runMaildir(args []string) {
	fs := flag.NewFlagSet("maildir", flag.ExitOnError)
	dir := fs.String("dir", "", "Maildir to create")
	total := fs.Int("messages", 1000, "messages (bounded: at most 100,000)")
	size := fs.Int("size", 4096, "message size in bytes")
	fs.Parse(args)
	if *dir == "" || *total <= 0 || *total > 100000 {
		fmt.Fprintln(os.Stderr, "mailbench maildir: need -dir, 0 < -messages <= 100000")
		os.Exit(2)
	}
	for _, d := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(*dir, d), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "mailbench maildir:", err)
			os.Exit(1)
		}
	}
	for i := 0; i < *total; i++ {
		// Maildir wants LF line endings on disk.
		b := []byte(strings.ReplaceAll(string(fillMessage(i, *size)), "\r\n", "\n"))
		name := filepath.Join(*dir, "cur", fmt.Sprintf("%d.M%dP1.bench:2,S", 1764500000+i, i))
		if err := os.WriteFile(name, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "mailbench maildir:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("dir=%s messages=%d\n", *dir, *total)
}
