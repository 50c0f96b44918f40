package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"pochta/internal/store/searchindex"
)

// The search index (the FTS5 table "search" and the "headers" table) is
// built in the background, not in the delivery's commit: a delivery queues
// its blob in index_queue in the same transaction that makes it visible,
// and the indexer adds the text later, many messages per transaction.
// FTS5 writes a segment per transaction and merges segments as they pile
// up, so indexing dozens of messages at once costs far less than as many
// one-message commits, and a delivery's 250 no longer waits for it (it was
// 72% of the committer's CPU with 100 KiB messages).
//
// Search never answers from a stale index: before a query it has the
// indexer index what is still queued for that mailbox (as Dovecot's fts
// plugin catches up at search time). The indexer reads the text from the
// blob file (from the page cache, right after delivery); the delivery
// itself parses only the header, for threading. A crash loses nothing:
// the queue is durable.

const (
	// indexIdleBatch and indexIdleBytes bound one indexing transaction
	// (messages, text) while the committer has nothing else to do.
	indexIdleBatch = 256
	indexIdleBytes = 8 << 20
	// indexBusyBatch and indexBusyBytes bound it when the indexer takes
	// its turn between deliveries: they bound how long a delivery waits
	// behind it (tens of milliseconds).
	indexBusyBatch = 64
	indexBusyBytes = 1 << 20
	// indexQuiet is how long the committer must have been idle for the
	// indexer to count it as idle.
	indexQuiet = 20 * time.Millisecond
	// While deliveries keep the committer busy, the indexer still takes a
	// turn every indexBusyEvery, and every turn it can once the backlog
	// reaches indexMaxBacklog messages: bursts are absorbed, a steady
	// load is indexed as it comes, and an overload slows deliveries down
	// rather than growing the backlog without bound.
	indexMaxBacklog = 1000
	indexBusyEvery  = time.Second
	// indexPoll is how often a waiting indexer looks again.
	indexPoll = 5 * time.Millisecond
)

// indexer owns the processing of the index queue; one goroutine per store.
type indexer struct {
	s    *Store
	kick chan struct{}      // something was queued
	now  chan *catchUpReq   // Search wants a mailbox indexed now
	stop context.CancelFunc // ends run
	done chan struct{}

	last time.Time // when the last batch was indexed; only run uses it

	backlog atomic.Int64 // blobs in index_queue
	paused  atomic.Bool  // tests: no background indexing (catchUp still works)
}

type catchUpReq struct {
	mailboxID int64
	done      chan error
}

// startIndexer starts the background indexer of s.
func (s *Store) startIndexer(ctx context.Context) error {
	var n int64
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM index_queue").Scan(&n); err != nil {
		return fmt.Errorf("sqlite store: index queue: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	ix := &indexer{s: s, kick: make(chan struct{}, 1), now: make(chan *catchUpReq),
		stop: cancel, done: make(chan struct{})}
	ix.backlog.Store(n)
	if n > 0 {
		ix.kick <- struct{}{}
	}
	s.indexer = ix
	go ix.run(rctx)
	return nil
}

// IndexBacklog is how many messages' contents wait for the search index
// (for metrics and the benchmark).
func (s *Store) IndexBacklog() int64 { return s.indexer.backlog.Load() }

// committed tells the indexer how many blobs a committed batch queued and
// how many it took out of the queue (deleted before they were indexed).
func (ix *indexer) committed(queued, unqueued int) {
	if queued == 0 && unqueued == 0 {
		return
	}
	ix.backlog.Add(int64(queued - unqueued))
	if queued == 0 {
		return
	}
	select {
	case ix.kick <- struct{}{}:
	default:
	}
}

// catchUp returns once every blob queued for mailboxID before the call is
// in the index.
func (ix *indexer) catchUp(ctx context.Context, mailboxID int64) error {
	if ix.backlog.Load() == 0 {
		return nil
	}
	r := &catchUpReq{mailboxID: mailboxID, done: make(chan error, 1)}
	select {
	case ix.now <- r:
	case <-ix.done:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (ix *indexer) close() {
	ix.stop()
	<-ix.done
}

func (ix *indexer) run(ctx context.Context) {
	defer close(ix.done)
	var poll <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-ix.now:
			r.done <- ix.drain(ctx, r.mailboxID)
			continue
		case <-ix.kick:
		case <-poll:
		}
		poll = nil
		wait, err := ix.background(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			// The batch stays queued; try again later rather than spin.
			poll = time.After(time.Second)
		case wait:
			poll = time.After(indexPoll)
		}
	}
}

// background indexes one batch when it is the indexer's turn; wait reports
// that work remains.
func (ix *indexer) background(ctx context.Context) (wait bool, err error) {
	backlog := ix.backlog.Load()
	if backlog <= 0 || ix.paused.Load() {
		return false, nil
	}
	limit, bytes := indexIdleBatch, int64(indexIdleBytes)
	idle := ix.s.inflight.Load() == 0 && time.Since(time.Unix(0, ix.s.lastCommit.Load())) >= indexQuiet
	if !idle {
		if backlog < indexMaxBacklog && time.Since(ix.last) < indexBusyEvery {
			return true, nil
		}
		limit, bytes = indexBusyBatch, indexBusyBytes
	}
	_, full, err := ix.batch(ctx, 0, limit, bytes)
	ix.last = time.Now()
	return full || err != nil, err
}

// drain indexes everything queued for mailboxID.
func (ix *indexer) drain(ctx context.Context, mailboxID int64) error {
	for {
		_, full, err := ix.batch(ctx, mailboxID, indexIdleBatch, indexIdleBytes)
		if err != nil || !full {
			return err
		}
	}
}

// batch indexes up to limit queued blobs (of mailboxID's messages if not
// 0), or about maxBytes of their text, in one write; full reports that
// more may be queued.
func (ix *indexer) batch(ctx context.Context, mailboxID int64, limit int, maxBytes int64) (n int, full bool, err error) {
	q := "SELECT blob_id FROM index_queue ORDER BY blob_id LIMIT ?"
	args := []any{limit}
	if mailboxID != 0 {
		q = "SELECT DISTINCT q.blob_id FROM index_queue q JOIN messages m ON m.blob_id = q.blob_id WHERE m.mailbox_id = ? ORDER BY 1 LIMIT ?"
		args = []any{mailboxID, limit}
	}
	rows, err := ix.s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, false, err
	}
	ids, err := scanIDs(rows)
	if err != nil || len(ids) == 0 {
		return 0, false, err
	}
	items := make([]pendingIndex, 0, len(ids))
	var size int64
	for _, id := range ids {
		idx := ix.text(ctx, id)
		items = append(items, pendingIndex{id, idx})
		if size += idx.Size(); size >= maxBytes {
			break
		}
	}
	taken := 0
	err = ix.s.write(ctx, nil, func(tx *wtx, e *effects) error {
		taken = 0
		e.index = e.index[:0]
		for _, p := range items {
			res, err := tx.ExecContext(bg, "DELETE FROM index_queue WHERE blob_id = ?", p.blob)
			if err != nil {
				return err
			}
			// Not queued any more: deleted (and unqueued) since the read.
			if k, _ := res.RowsAffected(); k == 0 {
				continue
			}
			taken++
			e.index = append(e.index, p)
		}
		return nil
	})
	if err != nil {
		return 0, true, fmt.Errorf("sqlite store: indexing: %w", err)
	}
	ix.backlog.Add(-int64(taken))
	return len(items), len(items) < len(ids) || len(ids) == limit, nil
}

// text is a queued blob's parsed text, read from the database (inline) or
// its file.
func (ix *indexer) text(ctx context.Context, id int64) *searchindex.Text {
	var data []byte
	err := ix.s.rdb.QueryRowContext(ctx, "SELECT data FROM blob_data WHERE id = ?", id).Scan(&data)
	if err == nil {
		return searchindex.Build(bytes.NewReader(data))
	}
	f, err := os.Open(ix.s.blobPath(id))
	if err != nil {
		// Deleted since it was read from the queue; the commit skips it.
		return &searchindex.Text{}
	}
	defer f.Close()
	return searchindex.Build(f)
}

// scanIDs reads a column of integers.
func scanIDs(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
