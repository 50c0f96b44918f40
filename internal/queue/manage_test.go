package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestManagement(t *testing.T) {
	e, opts := newDeferringEnv(t)
	q := e.open(opts)
	id1, err := e.enqueue(envFrom("alice@local.test", "x@remote.test", "bob@local.test"), testMsg("one"))
	if err != nil {
		t.Fatal(err)
	}
	id2, err := e.enqueue(envFrom("alice@local.test", "y@remote.test"), testMsg("two"))
	if err != nil {
		t.Fatal(err)
	}
	var items []Item
	waitFor(t, "first attempts", func() bool {
		items, err = List(e.dir)
		if err != nil || len(items) != 2 {
			return false
		}
		for _, it := range items {
			for _, r := range it.Recipients {
				if r.Attempts == 0 {
					return false
				}
			}
		}
		return true
	})
	it := items[0]
	if it.ID != id1 || items[1].ID != id2 || it.From != "alice@local.test" || it.Size != int64(len(testMsg("one"))) {
		t.Fatalf("List: %+v", items)
	}
	x, bob := it.Recipients[0], it.Recipients[1]
	if x.Address != "x@remote.test" || x.Status != StatusPending || x.Attempts != 1 || !strings.Contains(x.LastError, "451 4.3.0 Try later") {
		t.Errorf("remote recipient state %+v", x)
	}
	if bob.Status != StatusDelivered || bob.Attempts != 1 {
		t.Errorf("local recipient state %+v", bob)
	}
	if d := time.Until(it.NextAttempt); d < 30*time.Minute || d > 2*time.Hour || !it.NextAttempt.Equal(x.NextAttempt) {
		t.Errorf("next attempt in %v", d)
	}

	shown, hdr, err := Show(e.dir, id1)
	if err != nil || shown.ID != id1 || !bytes.Contains(hdr, []byte("Subject: one\r\n")) || bytes.Contains(hdr, []byte("Body of")) {
		t.Fatalf("Show: %+v %q %v", shown, hdr, err)
	}
	for _, bad := range []string{"18ea69a338c6a5cc6c7c46b2", "../../etc/passwd", ""} {
		if _, _, err := Show(e.dir, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Show(%q) = %v", bad, err)
		}
		if err := Retry(e.dir, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Retry(%q) = %v", bad, err)
		}
	}

	// While the queue runs, requests go through ctl/.
	n := e.remote.callCount()
	if err := Retry(e.dir, id1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "retry", func() bool { return e.remote.callCount() == n+1 })
	if c := e.remote.snapshot()[n]; c.Rcpts[0] != "x@remote.test" {
		t.Fatalf("retried %v", c.Rcpts)
	}
	if err := Flush(e.dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "flush", func() bool { return e.remote.callCount() == n+3 })
	if err := Drop(e.dir, id2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "drop", func() bool {
		items, err := List(e.dir)
		return err == nil && len(items) == 1 && items[0].ID == id1
	})
	if err := Drop(e.dir, id2); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Drop = %v", err)
	}
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// With no queue running, requests are applied directly.
	if err := Retry(e.dir, id1); err != nil {
		t.Fatal(err)
	}
	items, err = List(e.dir)
	if err != nil || len(items) != 1 || time.Until(items[0].NextAttempt) > time.Minute {
		t.Fatalf("offline retry: %+v %v", items, err)
	}
	if err := Drop(e.dir, id1); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{msgDir, envDir, ctlDir} {
		if names, _ := readDirNames(filepath.Join(e.dir, sub)); len(names) != 0 {
			t.Errorf("%s/ not empty after drop: %v", sub, names)
		}
	}
	if box := e.inbox("alice@local.test"); len(box) != 0 {
		t.Errorf("a dropped message bounced:\n%s", box[0])
	}
}

// TestRequestLeftForNextOpen: a request written while a queue holds the
// lock but never applied (queue stopped) is applied by the next Open.
func TestRequestLeftForNextOpen(t *testing.T) {
	e := newEnv(t)
	q, err := Open(e.options())
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.Enqueue(context.Background(), envFrom("alice@local.test", "x@remote.test"), testMsg("left"))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(filepath.Join(e.dir, ctlDir, id+dropSuffix), nil); err != nil {
		t.Fatal(err)
	}
	q.Shutdown(context.Background())
	q2, err := Open(e.options())
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Shutdown(context.Background())
	if items, err := List(e.dir); err != nil || len(items) != 0 {
		t.Fatalf("drop request not applied at Open: %+v %v", items, err)
	}
}

const childEnv = "POCHTA_QUEUE_KILL_CHILD_DIR"

// TestKill9Child is the process TestKill9 kills: it enqueues messages and
// prints each id once Enqueue has returned.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		return // only meaningful as TestKill9's child process
	}
	q, err := Open(Options{Dir: dir, Hostname: "mx.local.test", Local: nopLocal{}, Remote: &testRemote{}, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100000 {
		id, err := q.Enqueue(context.Background(), envFrom("alice@local.test", fmt.Sprintf("r%d@remote.test", i)), testMsg(fmt.Sprint("n", i)))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stdout, "queued %s %d\n", id, i)
	}
}

// TestKill9 kills a process that is enqueueing as fast as it can and
// checks that every acknowledged message survives, intact, and is
// delivered by the next queue.
func TestKill9(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]int{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 25 {
		var id string
		var i int
		if _, err := fmt.Sscanf(sc.Text(), "queued %s %d", &id, &i); err == nil {
			acked[id] = i
		}
	}
	cmd.Process.Kill() // SIGKILL, mid-Enqueue most likely
	cmd.Wait()
	if len(acked) < 25 {
		t.Fatalf("child acknowledged only %d messages", len(acked))
	}

	e := newEnv(t)
	e.dir = dir
	// List what the recovered spool holds before the queue starts: once
	// started it may deliver and remove entries at once.
	q, err := Open(e.options())
	if err != nil {
		t.Fatal(err)
	}
	items, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	t.Cleanup(func() { q.Shutdown(context.Background()) })
	e.last = q
	listed := map[string]bool{}
	for _, it := range items {
		listed[it.ID] = true
	}
	for id, i := range acked {
		if !listed[id] {
			t.Fatalf("acknowledged message %s (#%d) lost", id, i)
		}
	}
	e.waitEmpty()
	got := map[string]bool{}
	for _, c := range e.remote.snapshot() {
		got[c.Rcpts[0]+" "+string(c.Content)] = true
	}
	for _, i := range acked {
		if !got[fmt.Sprintf("r%d@remote.test %s", i, testMsg(fmt.Sprint("n", i)))] {
			t.Fatalf("message #%d not delivered intact", i)
		}
	}
}
