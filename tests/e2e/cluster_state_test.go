package e2e

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// clusterDKIM: `pochta dkim keygen` run with node A's config puts the
// key in the shared database, not in A's data_dir; node B, told with
// SIGHUP (else within a minute), signs what is submitted to it with that
// key (verified with go-msgauth against the record keygen printed). The
// nodes share no data_dir.
func clusterDKIM(t *testing.T, c *cluster) {
	a, b := c.nodes[0], c.nodes[1]
	rec := a.run("", "dkim keygen", "example.test")
	m := regexp.MustCompile(`(?m)^(\S+)\. IN TXT "([^"]+)"`).FindStringSubmatch(rec)
	if m == nil {
		t.Fatalf("dkim keygen printed no TXT record:\n%s", rec)
	}
	for _, n := range c.nodes {
		if _, err := os.Stat(filepath.Join(n.dir, "data", "dkim")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a node has a dkim folder in its data_dir: %v", err)
		}
	}
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for i := 0; !strings.Contains(b.logText(), "dkim keys reloaded"); i++ {
		if i == 100 {
			t.Fatalf("node B did not reload its keys on SIGHUP within 10s:\n%s", b.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
	const subject = "signed by node B with node A's key"
	submit(t, b, "kate@example.test", "kate-password-1", "kate@example.test", "far@remote.test", subject)
	deadline := time.Now().Add(20 * time.Second)
	for c.sink.count(subject) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the remote server never got the message")
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.sink.mu.Lock()
	msg := c.sink.msgs[subject]
	c.sink.mu.Unlock()
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		if name != m[1] {
			return nil, errors.New("no such record: " + name)
		}
		return []string{m[2]}, nil
	}})
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.test" {
		t.Fatalf("DKIM verification of node B's message: %v %+v\n%s", err, vs, msg)
	}
	waitQueueEmpty(t, b)
}
