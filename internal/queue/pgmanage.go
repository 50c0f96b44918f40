package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Manager is what the management commands (`pochta queue`) do, on either
// spool.
type Manager interface {
	// List returns every queued message, oldest first.
	List(ctx context.Context) ([]Item, error)
	// Show returns one queued message and its header section.
	Show(ctx context.Context, id string) (Item, []byte, error)
	// Retry makes the next attempt for every pending recipient of id
	// happen now.
	Retry(ctx context.Context, id string) error
	// Drop removes id without delivering it further or sending any DSN.
	Drop(ctx context.Context, id string) error
	// Flush makes the next attempt of every queued message happen now.
	Flush(ctx context.Context) error
	Close()
}

// FileManager manages the file spool in dir (the functions List, Show,
// Retry, Drop and Flush).
func FileManager(dir string) Manager { return fileManager(dir) }

type fileManager string

func (d fileManager) List(context.Context) ([]Item, error) { return List(string(d)) }
func (d fileManager) Show(_ context.Context, id string) (Item, []byte, error) {
	return Show(string(d), id)
}
func (d fileManager) Retry(_ context.Context, id string) error { return Retry(string(d), id) }
func (d fileManager) Drop(_ context.Context, id string) error  { return Drop(string(d), id) }
func (d fileManager) Flush(context.Context) error              { return Flush(string(d)) }
func (d fileManager) Close()                                   {}

// pgManager manages the PostgreSQL spool with direct SQL; it NOTIFYs the
// running queues, which claim what became due at once.
type pgManager struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// OpenPostgresManager connects to the PostgreSQL spool at url (creating or
// migrating its tables if needed).
func OpenPostgresManager(ctx context.Context, url string) (Manager, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := migratePG(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("queue: postgres: %w", err)
	}
	return &pgManager{pool: pool, now: time.Now}, nil
}

func (m *pgManager) Close() { m.pool.Close() }

func (m *pgManager) List(ctx context.Context) ([]Item, error) {
	rows, err := m.pool.Query(ctx, `SELECT id, record FROM queue_messages ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	defer rows.Close()
	var items []Item
	for rows.Next() {
		var id, data string
		if err := rows.Scan(&id, &data); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		rec, err := parseRecord(id, []byte(data))
		if err != nil {
			return nil, fmt.Errorf("queue: entry %s: %w", id, err)
		}
		items = append(items, rec.item())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return items, nil
}

func (m *pgManager) Show(ctx context.Context, id string) (Item, []byte, error) {
	var data string
	err := m.pool.QueryRow(ctx, `SELECT record FROM queue_messages WHERE id = $1`, id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, nil, ErrNotFound
	}
	if err != nil {
		return Item{}, nil, fmt.Errorf("queue: %w", err)
	}
	rec, err := parseRecord(id, []byte(data))
	if err != nil {
		return Item{}, nil, fmt.Errorf("queue: entry %s: %w", id, err)
	}
	hdr, err := pgHeader(ctx, m.pool, id)
	if err != nil {
		return Item{}, nil, fmt.Errorf("queue: entry %s: %w", id, err)
	}
	return rec.item(), hdr, nil
}

func (m *pgManager) Retry(ctx context.Context, id string) error {
	n, err := m.retry(ctx, &id)
	if err == nil && n == 0 {
		return ErrNotFound
	}
	return err
}

func (m *pgManager) Flush(ctx context.Context) error {
	_, err := m.retry(ctx, nil)
	return err
}

// retry schedules the pending recipients of id (of every entry when id is
// nil) for now and wakes the queues; it returns how many entries it found.
// An entry leased by a node is marked instead: it is due at once when its
// holder lets it go (or dies), and the next claimer applies the retry.
func (m *pgManager) retry(ctx context.Context, id *string) (int, error) {
	now := m.now()
	tx, err := m.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("queue: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	rows, err := tx.Query(ctx, `SELECT id, record, lease_until FROM queue_messages
		WHERE ($1::text IS NULL OR id = $1) ORDER BY id FOR UPDATE`, id)
	if err != nil {
		return 0, fmt.Errorf("queue: %w", err)
	}
	type change struct {
		id     string
		data   []byte
		leased bool
	}
	var changes []change
	found := 0
	for rows.Next() {
		var rid, data string
		var until *time.Time
		if err := rows.Scan(&rid, &data, &until); err != nil {
			rows.Close()
			return 0, fmt.Errorf("queue: %w", err)
		}
		found++
		if until != nil && until.After(now) {
			changes = append(changes, change{id: rid, leased: true})
			continue
		}
		rec, err := parseRecord(rid, []byte(data))
		if err != nil || !retryRecord(rec, now) {
			continue
		}
		b, err := jsonRecord(rec)
		if err != nil {
			rows.Close()
			return 0, err
		}
		changes = append(changes, change{id: rid, data: b})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("queue: %w", err)
	}
	for _, c := range changes {
		if c.leased {
			_, err = tx.Exec(ctx, `UPDATE queue_messages SET retry_requested = true, next_due = LEAST(next_due, $2) WHERE id = $1`, c.id, now)
		} else {
			_, err = tx.Exec(ctx, `UPDATE queue_messages SET record = $2, next_due = $3 WHERE id = $1`, c.id, string(c.data), now)
		}
		if err != nil {
			return 0, fmt.Errorf("queue: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, 'retry')`, notifyChannel); err != nil {
		return 0, fmt.Errorf("queue: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("queue: %w", err)
	}
	return found, nil
}

// Drop deletes id when no node holds it; otherwise it marks it, and the
// holder deletes it instead of releasing it (as does a node that claims it
// after the holder's lease expired).
func (m *pgManager) Drop(ctx context.Context, id string) error {
	now := m.now()
	tx, err := m.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var until *time.Time
	err = tx.QueryRow(ctx, `UPDATE queue_messages SET drop_requested = true WHERE id = $1 RETURNING lease_until`, id).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if until == nil || !until.After(now) {
		if _, err := tx.Exec(ctx, `DELETE FROM queue_messages WHERE id = $1`, id); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}
