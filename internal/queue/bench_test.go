package queue

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"pochta/internal/pgtest"
)

func benchQueue(b *testing.B) (*Queue, []byte) { return benchQueueAt(b, "") }

// benchQueueAt opens a queue on the file spool, or on PostgreSQL at pgURL.
func benchQueueAt(b *testing.B, pgURL string) (*Queue, []byte) {
	q, err := Open(Options{
		Dir:         b.TempDir(),
		PostgresURL: pgURL,
		Hostname:    "mx.local.test",
		Local:       nopLocal{},
		Remote:      &testRemote{},
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Shutdown(context.Background()) }) // never started: nothing is delivered
	content := append([]byte("Subject: bench\r\n\r\n"), bytes.Repeat([]byte("0123456789abcde\n"), 4096/16)...)[:4096]
	b.SetBytes(int64(len(content)))
	return q, content
}

// BenchmarkEnqueue measures one durable Enqueue of a 4 KiB message:
// content and envelope written and fsynced, the envelope renamed into
// place and both directories fsynced.
func BenchmarkEnqueue(b *testing.B) {
	q, content := benchQueue(b)
	env := envFrom("alice@local.test", "bob@remote.test")
	for b.Loop() {
		if _, err := q.Enqueue(context.Background(), env, content); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnqueueParallel measures Enqueue throughput with concurrent
// callers (as with many SMTP sessions).
func BenchmarkEnqueueParallel(b *testing.B) { benchEnqueueParallel(b, "", 4) }

// BenchmarkEnqueuePostgresParallel is BenchmarkEnqueueParallel on the
// PostgreSQL spool (one INSERT committed per message) of a real server on
// loopback.
func BenchmarkEnqueuePostgresParallel(b *testing.B) {
	srv := pgtest.Start(b)             // once: the sub-benchmark runs with growing b.N
	for _, par := range []int{4, 16} { // × GOMAXPROCS callers
		b.Run(fmt.Sprintf("par%d", par), func(b *testing.B) { benchEnqueueParallel(b, srv.NewDatabase(b), par) })
	}
}

func benchEnqueueParallel(b *testing.B, pgURL string, par int) {
	q, content := benchQueueAt(b, pgURL)
	b.ResetTimer()
	b.SetParallelism(par)
	b.RunParallel(func(pb *testing.PB) {
		env := envFrom("alice@local.test", "bob@remote.test")
		for pb.Next() {
			if _, err := q.Enqueue(context.Background(), env, content); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDrain measures the spool's and scheduler's share of a queue
// drain: 2,000 entries enqueued while the queue is stopped, then Start
// and wait until every one is delivered (to a Remote that accepts at once)
// and removed. Reported as entries/s.
func BenchmarkDrain(b *testing.B) {
	const n = 2000
	for b.Loop() {
		b.StopTimer()
		q, content := benchQueue(b)
		env := envFrom("alice@local.test", "bob@remote.test")
		for range n {
			if _, err := q.Enqueue(context.Background(), env, content); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		q.Start()
		for {
			q.mu.Lock()
			left := len(q.entries)
			q.mu.Unlock()
			if left == 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(n/time.Since(start).Seconds(), "entries/s")
	}
}
