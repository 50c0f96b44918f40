package queue

// The PostgreSQL spool: every node's queue shares one table, so any node
// may deliver any queued message.
//
// A row of queue_messages is one entry: its record (the same JSON as
// env/<id>.json of the file spool), its content, next_due (when the entry
// next needs work: a retry, a DSN, a delay warning) and a lease
// (lease_owner, lease_until). A node claims due rows that nobody leases
// (or whose lease has expired) with SELECT ... FOR UPDATE SKIP LOCKED and
// sets its lease in the same statement, so two nodes never claim the same
// row; while it delivers it extends the lease every Lease/3; it writes the
// results, the next due time or the removal only while it still holds the
// lease (WHERE lease_owner = me), then releases the row. A node that dies
// mid-delivery leaves its lease to expire, after which another node claims
// the row with the state last committed: at worst a recipient is attempted
// once more (the at-least-once minimum of RFC 5321 §6.1), never forgotten.
//
// Enqueue inserts the row already leased by the enqueuing node and returns
// after COMMIT. Management commands edit the rows directly and NOTIFY the
// channel pochta_queue, on which every node LISTENs to claim at once.
// Times come from the queue's clock (Options.Now), so nodes' clocks should
// agree to well within Lease.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// defaultLease is Options.Lease when unset.
	defaultLease = time.Minute
	// notifyChannel is the LISTEN/NOTIFY channel that wakes the queues.
	notifyChannel = "pochta_queue"
	// schemaLockKey is the advisory lock that serialises schema
	// migrations of nodes starting at once ("pochtaq" in ASCII).
	schemaLockKey = 0x706f6368746171
	// commitTimeout bounds one group commit of new entries.
	commitTimeout = 30 * time.Second
)

// errLeaseLost is returned by the PostgreSQL spool when another node has
// taken an entry over (our lease expired): our state must not be written.
var errLeaseLost = errors.New("queue: lease lost to another node")

// pgMigrations are the versioned schema steps of the queue's tables; the
// version reached is kept in queue_schema. Append only.
var pgMigrations = []string{
	`CREATE TABLE queue_messages (
		id             text PRIMARY KEY,
		record         text NOT NULL,
		content        bytea NOT NULL,
		created        timestamptz NOT NULL,
		next_due       timestamptz NOT NULL,
		lease_owner    text NOT NULL DEFAULT '',
		lease_until    timestamptz,
		drop_requested boolean NOT NULL DEFAULT false,
		retry_requested boolean NOT NULL DEFAULT false
	);
	CREATE INDEX queue_messages_due ON queue_messages (next_due);`,
}

// migratePG brings the queue's tables to the current version, under an
// advisory lock so that nodes starting together do it once.
func migratePG(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(schemaLockKey)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS queue_schema (version integer NOT NULL)`); err != nil {
		return err
	}
	var version int
	err = tx.QueryRow(ctx, `SELECT version FROM queue_schema`).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		_, err = tx.Exec(ctx, `INSERT INTO queue_schema (version) VALUES (0)`)
	}
	if err != nil {
		return err
	}
	if version > len(pgMigrations) {
		return fmt.Errorf("queue schema version %d is newer than this program (%d)", version, len(pgMigrations))
	}
	for i := version; i < len(pgMigrations); i++ {
		if _, err := tx.Exec(ctx, pgMigrations[i]); err != nil {
			return fmt.Errorf("queue schema migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE queue_schema SET version = $1`, len(pgMigrations)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// pgSpool is the spool in PostgreSQL, shared by every node.
type pgSpool struct {
	pool  *pgxpool.Pool
	owner string // this node's lease owner name, unique per Open
	lease time.Duration
	log   *slog.Logger
	now   func() time.Time

	ctx    context.Context // ends the committer, the listener and the lease keeper
	cancel context.CancelFunc
	adds   chan *addRequest // to commitLoop
	wg     sync.WaitGroup
}

// openPGSpool connects to url (its own pool) and migrates the schema.
func openPGSpool(ctx context.Context, url string, lease time.Duration, log *slog.Logger, now func() time.Time) (*pgSpool, error) {
	pool, err := openPool(ctx, url)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		pool.Close()
		return nil, err
	}
	s := &pgSpool{pool: pool, owner: hex.EncodeToString(b[:]), lease: lease, log: log, now: now}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.adds = make(chan *addRequest)
	s.wg.Add(1)
	go s.commitLoop()
	return s, nil
}

// run starts the LISTEN loop (wake is called on every notification and
// after a reconnect) and the lease keeper, which extends the leases of
// held() every Lease/3.
func (s *pgSpool) run(wake func(), held func() []string) {
	s.wg.Add(2)
	go s.listen(wake)
	go s.keepLeases(held)
}

func (s *pgSpool) listen(wake func()) {
	defer s.wg.Done()
	for s.ctx.Err() == nil {
		err := s.listenOnce(wake)
		if s.ctx.Err() != nil {
			return
		}
		s.log.Warn("queue: LISTEN connection lost; polling until it is back", "err", err)
		select {
		case <-s.ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *pgSpool) listenOnce(wake func()) error {
	conn, err := s.pool.Acquire(s.ctx)
	if err != nil {
		return err
	}
	// The connection is left in LISTEN state: never return it to the pool.
	c := conn.Hijack()
	defer c.Close(context.Background())
	if _, err := c.Exec(s.ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	wake() // whatever was notified while we were not listening
	for {
		if _, err := c.WaitForNotification(s.ctx); err != nil {
			return err
		}
		wake()
	}
}

func (s *pgSpool) keepLeases(held func() []string) {
	defer s.wg.Done()
	t := time.NewTicker(max(s.lease/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		ids := held()
		if len(ids) == 0 {
			continue
		}
		tag, err := s.pool.Exec(s.ctx, `UPDATE queue_messages SET lease_until = $3 WHERE id = ANY($1) AND lease_owner = $2`,
			ids, s.owner, s.now().Add(s.lease))
		switch {
		case err != nil:
			s.log.Error("queue: cannot extend leases", "err", err)
		case int(tag.RowsAffected()) < len(ids):
			s.log.Warn("queue: leases lost to other nodes", "held", len(ids), "extended", tag.RowsAffected())
		}
	}
}

// load returns nothing: a node holds entries only once it claims them.
func (s *pgSpool) load(context.Context) ([]*record, error) { return nil, nil }

// add inserts the entry, leased to this node, and returns after COMMIT.
// Concurrent adds share one transaction (group commit): the committer
// takes every request waiting when it is free, up to maxAddBatch.
func (s *pgSpool) add(_ context.Context, rec *record, content []byte) error {
	data, err := jsonRecord(rec)
	if err != nil {
		return err
	}
	req := &addRequest{rec: rec, data: data, content: content, done: make(chan error, 1)}
	select {
	case s.adds <- req: // unbuffered: once taken, it is always answered
	case <-s.ctx.Done():
		return ErrClosed
	}
	return <-req.done
}

// addRequest is one add waiting for the committer.
type addRequest struct {
	rec     *record
	data    []byte
	content []byte
	done    chan error
}

// maxAddBatch bounds the entries one group commit inserts.
const maxAddBatch = 64

// commitLoop is the committer of add: one transaction per batch.
func (s *pgSpool) commitLoop() {
	defer s.wg.Done()
	for {
		var batch []*addRequest
		select {
		case r := <-s.adds:
			batch = append(batch, r)
		case <-s.ctx.Done():
			return
		}
	more:
		for len(batch) < maxAddBatch {
			select {
			case r := <-s.adds:
				batch = append(batch, r)
			default:
				break more
			}
		}
		err := s.insert(batch)
		for _, r := range batch {
			r.done <- err
		}
	}
}

// insert commits a batch of new entries in one transaction.
func (s *pgSpool) insert(batch []*addRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	until := s.now().Add(s.lease)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, r := range batch {
			b.Queue(`INSERT INTO queue_messages (id, record, content, created, next_due, lease_owner, lease_until)
				VALUES ($1, $2, $3, $4, $4, $5, $6)`, r.rec.ID, string(r.data), r.content, r.rec.Created, s.owner, until)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
}

func (s *pgSpool) content(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT content FROM queue_messages WHERE id = $1`, id).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return b, err
}

func (s *pgSpool) header(ctx context.Context, id string) ([]byte, error) {
	return pgHeader(ctx, s.pool, id)
}

// pgHeader reads the header section of id's content.
func pgHeader(ctx context.Context, db pgxQuerier, id string) ([]byte, error) {
	var b []byte
	err := db.QueryRow(ctx, `SELECT substring(content FROM 1 FOR $2) FROM queue_messages WHERE id = $1`, id, maxHeaderSize).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return headerOf(b), nil
}

// pgxQuerier is what pgHeader needs of a pool or a transaction.
type pgxQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// save writes rec's state while this node holds its lease.
func (s *pgSpool) save(ctx context.Context, rec *record, due time.Time) error {
	data, err := jsonRecord(rec)
	if err != nil {
		return err
	}
	// A retry requested while we hold the entry keeps its earlier due time.
	tag, err := s.pool.Exec(ctx, `UPDATE queue_messages SET record = $3,
		next_due = CASE WHEN retry_requested THEN LEAST($4, next_due) ELSE $4 END
		WHERE id = $1 AND lease_owner = $2`,
		rec.ID, s.owner, string(data), due)
	if err == nil && tag.RowsAffected() == 0 {
		err = errLeaseLost
	}
	return err
}

// release gives id's lease up, so that any node claims it when due; a
// drop requested meanwhile removes it.
func (s *pgSpool) release(ctx context.Context, id string) error {
	var dropped bool
	err := s.pool.QueryRow(ctx, `UPDATE queue_messages SET lease_owner = '', lease_until = NULL
		WHERE id = $1 AND lease_owner = $2 RETURNING drop_requested`, id, s.owner).Scan(&dropped)
	if errors.Is(err, pgx.ErrNoRows) {
		return errLeaseLost
	}
	if err == nil && dropped {
		_, err = s.pool.Exec(ctx, `DELETE FROM queue_messages WHERE id = $1 AND lease_owner = ''`, id)
	}
	return err
}

func (s *pgSpool) remove(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM queue_messages WHERE id = $1 AND lease_owner = $2`, id, s.owner)
	if err == nil && tag.RowsAffected() == 0 {
		err = errLeaseLost
	}
	return err
}

// claim leases up to limit due entries that no live lease holds. A row
// another node is claiming at the same moment is skipped (SKIP LOCKED),
// never waited for.
func (s *pgSpool) claim(ctx context.Context, limit int) ([]*record, []bool, error) {
	now := s.now()
	rows, err := s.pool.Query(ctx, `WITH due AS (SELECT id, retry_requested FROM queue_messages
			WHERE next_due <= $3 AND (lease_until IS NULL OR lease_until < $3)
			ORDER BY next_due LIMIT $4 FOR UPDATE SKIP LOCKED)
		UPDATE queue_messages q SET lease_owner = $1, lease_until = $2, retry_requested = false
		FROM due WHERE q.id = due.id
		RETURNING q.id, q.record, q.drop_requested, due.retry_requested`, s.owner, now.Add(s.lease), now, limit)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var recs []*record
	var drops []bool
	for rows.Next() {
		var id, data string
		var drop, retry bool
		if err := rows.Scan(&id, &data, &drop, &retry); err != nil {
			return nil, nil, err
		}
		rec, err := parseRecord(id, []byte(data))
		if err != nil {
			s.log.Error("queue: unreadable entry in PostgreSQL left leased", "id", id, "err", err)
			continue
		}
		if retry { // asked while another node held it
			retryRecord(rec, now)
		}
		recs = append(recs, rec)
		drops = append(drops, drop)
	}
	return recs, drops, rows.Err()
}

// close stops the listener and the lease keeper and closes the pool.
func (s *pgSpool) close() {
	s.cancel()
	s.wg.Wait()
	s.pool.Close()
}

// jsonRecord encodes a record for the record column.
func jsonRecord(rec *record) ([]byte, error) { return json.Marshal(rec) }

// parseRecord decodes and checks an entry's record.
func parseRecord(id string, data []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if err := r.check(id); err != nil {
		return nil, err
	}
	return &r, nil
}
