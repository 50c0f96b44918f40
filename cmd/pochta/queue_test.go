package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pochta/internal/envelope"
	"pochta/internal/pgtest"
	"pochta/internal/queue"
)

type nopDelivery struct{}

func (nopDelivery) IsLocalDomain(context.Context, string) (bool, error) { return false, nil }
func (nopDelivery) Deliver(_ context.Context, env envelope.Envelope, _ []byte) []error {
	return make([]error, len(env.Recipients))
}

// TestQueueCLIPostgres: `pochta queue` with store.backend = "postgres"
// works on the rows of the shared queue.
func TestQueueCLIPostgres(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pochta.toml")
	conf := "hostname = \"mx.example.test\"\ndata_dir = \"" + filepath.Join(dir, "data") + "\"\n[store]\nbackend = \"postgres\"\npostgres_url = \"" + url + "\"\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// A node queues a message and stops before delivering it.
	q, err := queue.Open(queue.Options{Hostname: "mx.example.test", PostgresURL: url, Local: nopDelivery{}, Remote: remoteNop{}})
	if err != nil {
		t.Fatal(err)
	}
	env := envelope.Envelope{From: "kate@example.test", Recipients: []envelope.Recipient{{Address: "x@remote.test"}}}
	id, err := q.Enqueue(context.Background(), env, []byte("Subject: queued\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := pochta(t, cfg, "", args...)
		if err != nil {
			t.Fatalf("pochta %v: %v", args, err)
		}
		return out
	}
	if got := mustRun("queue", "list"); !strings.Contains(got, id) || !strings.Contains(got, "x@remote.test (pending)") {
		t.Fatalf("list = %q", got)
	}
	if got := mustRun("queue", "show", id); !strings.Contains(got, "Subject: queued") || strings.Contains(got, "body") {
		t.Fatalf("show = %q", got)
	}
	mustRun("queue", "retry", id)
	mustRun("queue", "flush")
	mustRun("queue", "drop", id)
	if _, err := pochta(t, cfg, "", "queue", "drop", id); err == nil {
		t.Fatal("second drop succeeded")
	}
	if got := mustRun("queue", "list"); got != "queue is empty\n" {
		t.Fatalf("list after drop = %q", got)
	}
}

type remoteNop struct{}

func (remoteNop) Deliver(_ context.Context, _ string, _ envelope.Envelope, rcpts []envelope.Recipient, _ []byte) []error {
	return make([]error, len(rcpts))
}
