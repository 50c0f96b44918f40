package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"pochta/internal/app"
	"pochta/internal/config"
	"pochta/internal/queue"
	"pochta/internal/store"
)

// storeMigrate copies the configured store into an empty other one:
// "pochta store migrate --to postgres://..." or "--to sqlite:DATA_DIR".
// It keeps what IMAP clients cache (UIDVALIDITY, UIDs, modseqs: RFC 9051
// §2.3.1.1, RFC 7162 §3) so that none re-downloads, then compares both
// stores line by line and prints a summary. Stop the servers that use
// either store first: nothing here locks out a concurrent writer. The
// server state (DKIM keys, the SRS secret, ACME keys and certificate,
// TLS-RPT counts, MTA-STS policies) and the outbound queue (each message
// with its recipients, attempts and next attempt times) are copied and
// verified too; the vacation replies already sent and the spam filter's
// counts are not.
func (c *cli) storeMigrate(args []string) error {
	fs := flag.NewFlagSet("store migrate", flag.ContinueOnError)
	to := fs.String("to", "", "target store: postgres://... or sqlite:DATA_DIR")
	load := configFlag(fs)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return usagef("store migrate needs --to postgres://... or --to sqlite:DATA_DIR")
	}
	cfg, _, err := load()
	if err != nil {
		return err
	}
	tcfg := *cfg
	switch {
	case strings.HasPrefix(*to, "postgres://"), strings.HasPrefix(*to, "postgresql://"):
		tcfg.Store.Backend, tcfg.Store.PostgresURL = "postgres", *to
	case strings.HasPrefix(*to, "sqlite:"):
		tcfg.Store.Backend, tcfg.DataDir = "sqlite", strings.TrimPrefix(*to, "sqlite:")
	default:
		return usagef("store migrate: --to must start with postgres:// or sqlite:")
	}
	if tcfg.Store == cfg.Store && tcfg.DataDir == cfg.DataDir {
		return errors.New("store migrate: the target is the configured store itself")
	}
	ctx := context.Background()
	src, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer src.Close()
	// What an older version left in data_dir goes with the store.
	if err := app.ImportLocalState(ctx, cfg, src, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	dst, err := app.OpenStore(ctx, &tcfg)
	if err != nil {
		return err
	}
	defer dst.Close()
	sum, err := migrateStore(ctx, src, dst)
	if err != nil && !errors.Is(err, errTargetNotEmpty) {
		return fmt.Errorf("%w\n(the target may be partly filled: empty it before trying again)", err)
	}
	if err != nil {
		return err
	}
	queued, err := queue.Copy(ctx, queueSpool(cfg), queueSpool(&tcfg))
	if err != nil {
		return fmt.Errorf("%w\n(the target store is copied; empty the target's queue before trying again)", err)
	}
	fmt.Fprintf(c.stdout, "copied and verified: %d domains, %d accounts, %d aliases, %d mailboxes, %d messages (%d bytes), %d Sieve scripts, %d server state values, %d queued messages\n",
		sum.domains, sum.accounts, sum.aliases, sum.mailboxes, sum.messages, sum.bytes, sum.scripts, sum.state, queued)
	fmt.Fprintln(c.stdout, "not copied: vacation replies already sent, the spam filter's token counts")
	return nil
}

var errTargetNotEmpty = errors.New("store migrate: the target store is not empty")

type migrateSummary struct {
	domains, accounts, aliases, mailboxes, messages, scripts, state int
	bytes                                                           int64
}

// migrateStore copies src into dst, which must be empty, and verifies the copy.
func migrateStore(ctx context.Context, src, dst store.Backend) (migrateSummary, error) {
	var sum migrateSummary
	if d, err := dst.ListDomains(ctx); err != nil || len(d) > 0 {
		return sum, fmt.Errorf("%w (%d domains) %v", errTargetNotEmpty, len(d), err)
	}
	if a, err := dst.ListAccounts(ctx, ""); err != nil || len(a) > 0 {
		return sum, fmt.Errorf("%w (%d accounts) %v", errTargetNotEmpty, len(a), err)
	}
	if n, err := dst.ListState(ctx, ""); err != nil || len(n) > 0 {
		return sum, fmt.Errorf("%w (%d server state values) %v", errTargetNotEmpty, len(n), err)
	}
	names, err := src.ListState(ctx, "")
	if err != nil {
		return sum, err
	}
	for _, n := range names {
		v, err := src.GetState(ctx, n)
		if err == nil {
			err = dst.AddState(ctx, n, v)
		}
		if err != nil {
			return sum, fmt.Errorf("server state %s: %w", n, err)
		}
	}
	sum.state = len(names)
	domains, err := src.ListDomains(ctx)
	if err != nil {
		return sum, err
	}
	for _, d := range domains {
		if err := dst.AddDomain(ctx, d.Name); err != nil {
			return sum, fmt.Errorf("domain %s: %w", d.Name, err)
		}
	}
	accounts, err := src.ListAccounts(ctx, "")
	if err != nil {
		return sum, err
	}
	for _, a := range accounts {
		n, err := copyAccount(ctx, src, dst, a)
		if err != nil {
			return sum, fmt.Errorf("account %s: %w", a.Address, err)
		}
		sum.mailboxes += n.mailboxes
		sum.messages += n.messages
		sum.bytes += n.bytes
		sum.scripts += n.scripts
	}
	for _, d := range domains {
		if d.CatchAll != "" {
			if err := dst.SetCatchAll(ctx, d.Name, d.CatchAll); err != nil {
				return sum, fmt.Errorf("domain %s: catch-all: %w", d.Name, err)
			}
		}
	}
	aliases, err := src.ListAliases(ctx, "")
	if err != nil {
		return sum, err
	}
	for _, al := range aliases {
		if err := dst.AddAlias(ctx, al.Address, al.Targets); err != nil {
			return sum, fmt.Errorf("alias %s: %w", al.Address, err)
		}
	}
	sum.domains, sum.accounts, sum.aliases = len(domains), len(accounts), len(aliases)
	return sum, verifyMigration(ctx, src, dst)
}

// copyAccount copies one account with everything it owns.
func copyAccount(ctx context.Context, src, dst store.Backend, a store.Account) (migrateSummary, error) {
	var sum migrateSummary
	source, err := src.AccountSource(ctx, a.Address)
	if err != nil {
		return sum, err
	}
	var na store.Account
	if source != "" {
		na, err = dst.AddSourcedAccount(ctx, a.Address, source)
		if err == nil {
			err = dst.SetPasswordHash(ctx, a.Address, a.PasswordHash)
		}
	} else {
		na, err = dst.AddAccount(ctx, a.Address, a.PasswordHash)
	}
	if err != nil {
		return sum, err
	}
	if _, keys, err := src.SCRAMKeys(ctx, a.Address); err != nil {
		return sum, err
	} else if keys != "" {
		if err := dst.SetSCRAMKeys(ctx, a.Address, a.PasswordHash, keys); err != nil {
			return sum, err
		}
	}
	refused, err := src.MainPasswordRefused(ctx, a.ID)
	if err != nil {
		return sum, err
	}
	if err := dst.SetMainPasswordRefused(ctx, na.ID, refused); err != nil {
		return sum, err
	}
	flags, err := src.AccountFlags(ctx, a.ID)
	if err != nil {
		return sum, err
	}
	if err := dst.SetAccountFlags(ctx, na.ID, flags); err != nil {
		return sum, err
	}
	aps, err := src.AppPasswords(ctx, a.ID)
	if err != nil {
		return sum, err
	}
	for _, p := range aps {
		p.AccountID = na.ID
		if _, err := dst.AddAppPassword(ctx, p); err != nil {
			return sum, err
		}
	}
	if err := copySubscriptions(ctx, src, dst, a.ID, na.ID); err != nil {
		return sum, err
	}
	mbs, err := src.ListMailboxes(ctx, a.ID)
	if err != nil {
		return sum, err
	}
	for _, mb := range mbs {
		n, size, err := copyMailbox(ctx, src, dst, na.ID, mb)
		if err != nil {
			return sum, fmt.Errorf("mailbox %q: %w", mb.Name, err)
		}
		sum.mailboxes++
		sum.messages += n
		sum.bytes += size
	}
	scripts, err := src.SieveScripts(ctx, a.ID)
	if err != nil {
		return sum, err
	}
	for _, sc := range scripts {
		if err := dst.PutSieveScript(ctx, na.ID, sc.Name, sc.Content); err != nil {
			return sum, fmt.Errorf("sieve script %q: %w", sc.Name, err)
		}
		if sc.Active {
			if err := dst.ActivateSieveScript(ctx, na.ID, sc.Name); err != nil {
				return sum, err
			}
		}
	}
	sum.scripts = len(scripts)
	// Last: the quota would refuse messages of an account already over it.
	return sum, dst.SetQuota(ctx, a.Address, a.QuotaBytes)
}

// copySubscriptions makes dst's subscribed names those of src (a new
// account starts with its default mailboxes subscribed).
func copySubscriptions(ctx context.Context, src, dst store.Backend, srcID, dstID int64) error {
	want, err := src.Subscriptions(ctx, srcID)
	if err != nil {
		return err
	}
	have, err := dst.Subscriptions(ctx, dstID)
	if err != nil {
		return err
	}
	for _, n := range have {
		if err := dst.SetSubscribed(ctx, dstID, n, false); err != nil {
			return err
		}
	}
	for _, n := range want {
		if err := dst.SetSubscribed(ctx, dstID, n, true); err != nil {
			return err
		}
	}
	return nil
}

// copyMailbox copies one mailbox with its messages and IMAP state.
func copyMailbox(ctx context.Context, src, dst store.Backend, dstAccount int64, mb store.Mailbox) (int, int64, error) {
	nmb, err := dst.GetMailbox(ctx, dstAccount, mb.Name)
	if errors.Is(err, store.ErrNotFound) {
		nmb, err = dst.CreateMailbox(ctx, dstAccount, mb.Name, mb.SpecialUse)
	}
	if err != nil {
		return 0, 0, err
	}
	msgs, err := allMessages(ctx, src, mb.ID)
	if err != nil {
		return 0, 0, err
	}
	var size int64
	for _, m := range msgs {
		r, err := src.Open(ctx, mb.ID, m.UID)
		if err != nil {
			return 0, 0, fmt.Errorf("UID %d: %w", m.UID, err)
		}
		err = dst.ImportMessage(ctx, nmb.ID, m, r)
		r.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("UID %d: %w", m.UID, err)
		}
		size += m.Size
	}
	expunged, err := src.Expunged(ctx, mb.ID)
	if err == nil && len(expunged) > 0 {
		err = dst.ImportExpunged(ctx, nmb.ID, expunged)
	}
	if err != nil {
		return 0, 0, err
	}
	st := mb
	st.ID = nmb.ID
	return len(msgs), size, dst.SetMailboxState(ctx, st)
}

// verifyMigration compares what both stores hold, line by line.
func verifyMigration(ctx context.Context, src, dst store.Backend) error {
	a, err := describeStore(ctx, src)
	if err != nil {
		return fmt.Errorf("verifying: source: %w", err)
	}
	b, err := describeStore(ctx, dst)
	if err != nil {
		return fmt.Errorf("verifying: target: %w", err)
	}
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Errorf("verifying: the copy differs:\n  source: %s\n  target: %s", x, y)
		}
	}
	return nil
}

// describeStore lists, one line each, everything migrateStore copies
// (database IDs aside), with a SHA-256 of each message's content.
func describeStore(ctx context.Context, st store.Backend) ([]string, error) {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	domains, err := st.ListDomains(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range domains {
		add("domain %s catch-all %q", d.Name, d.CatchAll)
	}
	aliases, err := st.ListAliases(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, al := range aliases {
		add("alias %s %q", al.Address, al.Targets)
	}
	accounts, err := st.ListAccounts(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, a := range accounts {
		if err := describeAccount(ctx, st, a, add); err != nil {
			return nil, fmt.Errorf("account %s: %w", a.Address, err)
		}
	}
	names, err := st.ListState(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		v, err := st.GetState(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("server state %s: %w", n, err)
		}
		add("state %s sha256 %x", n, sha256.Sum256(v))
	}
	return out, nil
}

// queueSpool is where cfg's queue keeps its messages.
func queueSpool(cfg *config.Config) queue.Spool {
	if cfg.Store.Backend == "postgres" {
		return queue.Spool{PostgresURL: cfg.Store.PostgresURL}
	}
	return queue.Spool{Dir: filepath.Join(cfg.DataDir, "queue")}
}

func describeAccount(ctx context.Context, st store.Backend, a store.Account, add func(string, ...any)) error {
	source, err := st.AccountSource(ctx, a.Address)
	if err != nil {
		return err
	}
	_, keys, err := st.SCRAMKeys(ctx, a.Address)
	if err != nil {
		return err
	}
	refused, err := st.MainPasswordRefused(ctx, a.ID)
	if err != nil {
		return err
	}
	flags, err := st.AccountFlags(ctx, a.ID)
	if err != nil {
		return err
	}
	add("account %s hash %s quota %d source %q scram %q main-password-refused %v flags %+v", a.Address, a.PasswordHash, a.QuotaBytes, source, keys, refused, flags)
	aps, err := st.AppPasswords(ctx, a.ID)
	if err != nil {
		return err
	}
	for _, p := range aps {
		add("  app-password %q %s %q", p.Name, p.Hash, p.Protocols)
	}
	subs, err := st.Subscriptions(ctx, a.ID)
	if err != nil {
		return err
	}
	add("  subscriptions %q", subs)
	scripts, err := st.SieveScripts(ctx, a.ID)
	if err != nil {
		return err
	}
	for _, sc := range scripts {
		add("  sieve %q active %v sha256 %x", sc.Name, sc.Active, sha256.Sum256([]byte(sc.Content)))
	}
	mbs, err := st.ListMailboxes(ctx, a.ID)
	if err != nil {
		return err
	}
	for _, mb := range mbs {
		s, err := st.Status(ctx, mb.ID)
		if err != nil {
			return err
		}
		add("  mailbox %q %q uidvalidity %d uidnext %d highestmodseq %d recent-claimed %d messages %d unseen %d deleted %d size %d",
			mb.Name, mb.SpecialUse, s.UIDValidity, s.UIDNext, s.HighestModSeq, s.RecentWatermark, s.Messages, s.Unseen, s.Deleted, s.Size)
		msgs, err := allMessages(ctx, st, mb.ID)
		if err != nil {
			return err
		}
		expunged, err := st.Expunged(ctx, mb.ID)
		if err != nil {
			return err
		}
		add("    expunged (uid:modseq) %v", expunged)
		for _, m := range msgs {
			r, err := st.Open(ctx, mb.ID, m.UID)
			if err != nil {
				return fmt.Errorf("mailbox %q UID %d: %w", mb.Name, m.UID, err)
			}
			h := sha256.New()
			_, err = io.Copy(h, r)
			r.Close()
			if err != nil {
				return err
			}
			add("    uid %d modseq %d flags %q date %d size %d sha256 %x", m.UID, m.ModSeq, m.Flags, m.InternalDate.UnixNano(), m.Size, h.Sum(nil))
		}
	}
	return nil
}

// allMessages lists a mailbox's messages (metadata only: Messages's
// callback must not call back into the store, so Open comes after).
func allMessages(ctx context.Context, st store.Backend, mailboxID int64) ([]store.Message, error) {
	var msgs []store.Message
	err := st.Messages(ctx, mailboxID, nil, func(m store.Message) error {
		msgs = append(msgs, m)
		return nil
	})
	return msgs, err
}
