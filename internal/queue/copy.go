package queue

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Spool names where a queue keeps its entries, for Copy: the files under
// Dir, or PostgreSQL at PostgresURL (as Options).
type Spool struct {
	Dir         string
	PostgresURL string
}

// copied is one entry as Copy moves it.
type copied struct {
	rec     *record
	data    []byte // the record's JSON, compared by the verification
	content []byte
}

// Copy copies every queued message of from into to, which must hold none:
// the same ids, envelopes (with REQUIRETLS and DSN parameters), contents,
// and per recipient its state, attempts, last reply and next attempt time,
// so that the queue on the other side carries on where this one stopped.
// It then reads both back and compares them, and returns how many entries
// it copied. No queue may be running on either (a file spool's lock is
// taken; for PostgreSQL, stop every node first). An entry copied into
// PostgreSQL is unleased and due at its earliest next attempt.
func Copy(ctx context.Context, from, to Spool) (int, error) {
	entries, err := readSpool(ctx, from)
	if err != nil {
		return 0, fmt.Errorf("queue copy: reading: %w", err)
	}
	if have, err := readSpool(ctx, to); err != nil {
		return 0, fmt.Errorf("queue copy: reading the target: %w", err)
	} else if len(have) > 0 {
		return 0, fmt.Errorf("queue copy: the target queue holds %d messages", len(have))
	}
	if err := writeSpool(ctx, to, entries); err != nil {
		return 0, fmt.Errorf("queue copy: writing: %w", err)
	}
	got, err := readSpool(ctx, to)
	if err != nil {
		return 0, fmt.Errorf("queue copy: verifying: %w", err)
	}
	if len(got) != len(entries) {
		return 0, fmt.Errorf("queue copy: verifying: %d messages copied, %d read back", len(entries), len(got))
	}
	for i, e := range entries {
		g := got[i]
		if g.rec.ID != e.rec.ID || !bytes.Equal(g.data, e.data) || !bytes.Equal(g.content, e.content) {
			return 0, fmt.Errorf("queue copy: verifying: message %s differs after the copy", e.rec.ID)
		}
	}
	return len(entries), nil
}

// readSpool returns every entry of s, by id.
func readSpool(ctx context.Context, s Spool) ([]copied, error) {
	var out []copied
	if s.PostgresURL != "" {
		pool, err := openPool(ctx, s.PostgresURL)
		if err != nil {
			return nil, err
		}
		defer pool.Close()
		rows, err := pool.Query(ctx, `SELECT id, record, content FROM queue_messages ORDER BY id`)
		if err != nil {
			return nil, err
		}
		err = forEachRow(rows, func(id, data string, content []byte) error {
			rec, err := parseRecord(id, []byte(data))
			if err == nil {
				out = append(out, copied{rec: rec, content: content})
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	} else {
		fs, err := openFileSpool(s.Dir, 0, slog.New(slog.DiscardHandler), time.Now)
		if err != nil {
			return nil, err
		}
		defer fs.close()
		recs, err := fs.load(ctx)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			content, err := fs.content(ctx, rec.ID)
			if err != nil {
				return nil, fmt.Errorf("message %s: %w", rec.ID, err)
			}
			out = append(out, copied{rec: rec, content: content})
		}
	}
	for i := range out {
		data, err := jsonRecord(out[i].rec)
		if err != nil {
			return nil, err
		}
		out[i].data = data
	}
	slices.SortFunc(out, func(a, b copied) int { return strings.Compare(a.rec.ID, b.rec.ID) })
	return out, nil
}

// forEachRow scans (id, record, content) rows.
func forEachRow(rows pgx.Rows, fn func(id, data string, content []byte) error) error {
	defer rows.Close()
	for rows.Next() {
		var id, data string
		var content []byte
		if err := rows.Scan(&id, &data, &content); err != nil {
			return err
		}
		if err := fn(id, data, content); err != nil {
			return err
		}
	}
	return rows.Err()
}

// writeSpool adds entries to s.
func writeSpool(ctx context.Context, s Spool, entries []copied) error {
	if s.PostgresURL == "" {
		fs, err := openFileSpool(s.Dir, 0, slog.New(slog.DiscardHandler), time.Now)
		if err != nil {
			return err
		}
		defer fs.close()
		for _, e := range entries {
			if err := fs.add(ctx, e.rec, e.content); err != nil {
				return fmt.Errorf("message %s: %w", e.rec.ID, err)
			}
		}
		return nil
	}
	pool, err := openPool(ctx, s.PostgresURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, e := range entries {
			if _, err := tx.Exec(ctx, `INSERT INTO queue_messages (id, record, content, created, next_due) VALUES ($1, $2, $3, $4, $5)`,
				e.rec.ID, string(e.data), e.content, e.rec.Created, nextDue(e.rec)); err != nil {
				return fmt.Errorf("message %s: %w", e.rec.ID, err)
			}
		}
		return nil
	})
}

// nextDue is rec's earliest pending attempt (now when none: a DSN may be
// owed); the queue that claims it works out the rest.
func nextDue(rec *record) time.Time {
	var due time.Time
	for _, rs := range rec.Recipients {
		if rs.Status == StatusPending && (due.IsZero() || rs.NextAttempt.Before(due)) {
			due = rs.NextAttempt
		}
	}
	if due.IsZero() {
		due = time.Now()
	}
	return due
}

// openPool connects to url and brings the queue's tables up to date.
func openPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := migratePG(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return pool, nil
}
