package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"pochta/internal/store"
)

// notifyChannel is the LISTEN/NOTIFY channel carrying changes between
// nodes. A payload is the sending Store's node id followed by
// "account:mailbox" pairs, space separated.
const notifyChannel = "pochta_changes"

// maxPayload keeps each notification under PostgreSQL's 8000-byte limit.
const maxPayload = 7000

// effects collects what one write request did, applied only if the
// request committed: watchers to notify.
type effects struct {
	changes []store.Change
}

func (e *effects) changed(accountID, mailboxID int64) {
	e.changes = append(e.changes, store.Change{AccountID: accountID, MailboxID: mailboxID})
}

// wtx is the committer's transaction.
type wtx struct {
	*sql.Tx
}

// writeReq is one change handed to the committer.
type writeReq struct {
	fn   func(tx *wtx, e *effects) error
	err  error
	done chan struct{}
}

// write runs fn in the committer's shared transaction and returns once
// the transaction has committed (or fn failed, in which case its changes
// are rolled back and its error returned).
func (s *Store) write(ctx context.Context, fn func(tx *wtx, e *effects) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeReq{fn: fn, done: make(chan struct{})}
	select {
	case s.reqs <- r:
	case <-s.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once accepted the request is always processed; wait for it so the
	// caller knows the outcome.
	<-r.done
	return noSpace(r.err)
}

// noSpace marks PostgreSQL's disk_full (SQLSTATE 53100) with
// store.ErrNoSpace, so that delivery answers 452 4.3.1.
func noSpace(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "53100" {
		return fmt.Errorf("%w: %v", store.ErrNoSpace, err)
	}
	return err
}

// retryable reports a deadlock, a serialization failure or a unique
// violation: another node's transaction won (it created the same mailbox,
// say), and running the request again sees its result.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001" || pe.Code == "23505")
}

// commitLoop is the single writer: it gathers pending requests into one
// transaction per batch.
func (s *Store) commitLoop() {
	defer close(s.done)
	for {
		var first *writeReq
		select {
		case first = <-s.reqs:
		case <-s.quit:
			return
		}
		batch := []*writeReq{first}
	gather:
		for len(batch) < maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		s.runBatch(batch)
	}
}

// maxTries bounds how often one request is run again after losing a
// deadlock to another node.
const maxTries = 5

func (s *Store) runBatch(batch []*writeReq) {
	ctx := context.Background()
	effs := make([]effects, len(batch))
	fail := func(err error) {
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
			close(r.done)
		}
	}
	stx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("postgres store: begin: %w", err))
		return
	}
	tx := &wtx{Tx: stx}
	ok := 0
	for i, r := range batch {
		for try := 0; ; try++ {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT req"); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("postgres store: savepoint: %w", err))
				return
			}
			r.err = r.fn(tx, &effs[i])
			if r.err != nil {
				effs[i] = effects{}
				if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT req"); err != nil {
					tx.Rollback()
					fail(fmt.Errorf("postgres store: rollback to savepoint: %w", err))
					return
				}
			}
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT req"); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("postgres store: release savepoint: %w", err))
				return
			}
			if r.err == nil || !retryable(r.err) || try+1 >= maxTries {
				break
			}
		}
		if r.err == nil {
			ok++
		}
	}
	if ok == 0 {
		tx.Rollback()
		for _, r := range batch {
			close(r.done)
		}
		return
	}
	var changes []store.Change
	seen := map[store.Change]bool{}
	for i := range effs {
		for _, c := range effs[i].changes {
			if !seen[c] {
				seen[c] = true
				changes = append(changes, c)
			}
		}
	}
	for _, p := range s.payloads(changes) {
		if _, err := tx.ExecContext(ctx, "SELECT pg_notify(?, ?)", notifyChannel, p); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("postgres store: notify: %w", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("postgres store: commit: %w", err))
		return
	}
	s.commits.Add(1)
	// Watchers hear of the change before the writers return.
	s.watch.Notify(changes)
	for _, r := range batch {
		close(r.done)
	}
}

// payloads encodes changes as notification payloads of at most
// maxPayload bytes.
func (s *Store) payloads(changes []store.Change) []string {
	var out []string
	var b strings.Builder
	for _, c := range changes {
		if b.Len() == 0 {
			b.WriteString(s.node)
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(c.AccountID, 10))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(c.MailboxID, 10))
		if b.Len() > maxPayload {
			out = append(out, b.String())
			b.Reset()
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// parsePayload decodes a notification; ok is false for this Store's own
// (already delivered to watchers) and for malformed ones.
func (s *Store) parsePayload(p string) ([]store.Change, bool) {
	f := strings.Fields(p)
	if len(f) == 0 || f[0] == s.node {
		return nil, false
	}
	var out []store.Change
	for _, pair := range f[1:] {
		a, m, found := strings.Cut(pair, ":")
		acc, err1 := strconv.ParseInt(a, 10, 64)
		mb, err2 := strconv.ParseInt(m, 10, 64)
		if !found || err1 != nil || err2 != nil {
			return nil, false
		}
		out = append(out, store.Change{AccountID: acc, MailboxID: mb})
	}
	return out, true
}

// connectListener opens the dedicated LISTEN connection.
func (s *Store) connectListener(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("postgres store: listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("postgres store: listener: %w", err)
	}
	return conn, nil
}

// listenRetry is the pause between attempts to reconnect the listener.
const listenRetry = 500 * time.Millisecond

// listen passes other nodes' changes to this Store's watchers until ctx
// ends. After losing its connection it reconnects and wakes every
// watcher for every mailbox of its account, since changes may have been
// missed meanwhile.
func (s *Store) listen(ctx context.Context, conn *pgx.Conn) {
	defer close(s.listenDone)
	for {
		for conn != nil {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				break
			}
			if changes, ok := s.parsePayload(n.Payload); ok {
				s.watch.Notify(changes)
			}
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(listenRetry):
		}
		c, err := s.connectListener(ctx)
		if err != nil {
			continue
		}
		conn = c
		s.wakeAll(ctx)
	}
}

// wakeAll sends a change for every mailbox of every watched account.
func (s *Store) wakeAll(ctx context.Context) {
	var changes []store.Change
	for _, a := range s.watch.Accounts() {
		rows, err := s.rdb.QueryContext(ctx, "SELECT id FROM mailboxes WHERE account_id = ?", a)
		if err != nil {
			continue
		}
		for rows.Next() {
			var id int64
			if rows.Scan(&id) == nil {
				changes = append(changes, store.Change{AccountID: a, MailboxID: id})
			}
		}
		rows.Close()
	}
	s.watch.Notify(changes)
}

// Watch implements store.Mailstore. The channel is closed by cancel or
// Close.
func (s *Store) Watch(accountID int64) (<-chan store.Change, func()) {
	return s.watch.Watch(accountID)
}
