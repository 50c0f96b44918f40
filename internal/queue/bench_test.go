package queue

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
)

func benchQueue(b *testing.B) (*Queue, []byte) {
	q, err := Open(Options{
		Dir:      b.TempDir(),
		Hostname: "mx.local.test",
		Local:    nopLocal{},
		Remote:   &testRemote{},
		Logger:   slog.New(slog.DiscardHandler),
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
func BenchmarkEnqueueParallel(b *testing.B) {
	q, content := benchQueue(b)
	b.SetParallelism(4)
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
