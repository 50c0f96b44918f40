package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDiskFull fills pochta's data folder (a 6 MiB tmpfs mounted by the
// test) with 256 KiB messages until the server refuses. Every refusal must
// be 452 4.3.1 (insufficient system storage, RFC 3463), the server must stay up, every message that got a 250
// must be downloadable intact, and once POP3 deletes free space, mail is
// accepted again.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("mounting a small tmpfs needs root: run the e2e tests as root (as .ci/run does in CI)")
	}
	in := newInstance(t, instanceOptions{})
	data := filepath.Join(in.dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", data).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if in.cmd != nil {
			in.kill()
		}
		exec.Command("umount", data).Run()
	})
	in.addUser("kate@example.test", "kate-pw")
	in.start()

	body := "From: a@remote.test\r\nTo: kate@example.test\r\nSubject: %s\r\n\r\n" + strings.Repeat(strings.Repeat("z", 98)+"\r\n", 2600)
	var accepted []string
	refused := ""
	for i := 0; i < 60 && refused == ""; i++ { // 60 × 256 KiB is far beyond 6 MiB
		subject := "fill-" + time.Now().Format("150405.000000")
		err := sendPlain(in.addr["smtp"], "a@remote.test", "kate@example.test", strings.Replace(body, "%s", subject, 1))
		if err == nil {
			accepted = append(accepted, subject)
			continue
		}
		refused = err.Error()
	}
	if refused == "" {
		t.Fatal("a full disk never refused a message")
	}
	if !regexp.MustCompile(`^452 .*4\.3\.1`).MatchString(refused) {
		t.Fatalf("refusal on a full disk is not temporary: %q", refused)
	}
	t.Logf("%d messages accepted, then: %s", len(accepted), refused)

	ph, pp := hostPort(t, in.addr["pop3"])
	out := python(t, "pop3_fetch.py", ph, pp, "kate@example.test", "kate-pw", "dele")
	for _, s := range accepted {
		if strings.Count(out, "Subject: "+s+"\n") != 1 {
			t.Fatalf("acknowledged %s is not in the mailbox exactly once", s)
		}
	}
	if n := strings.Count(out, strings.Repeat("z", 98)); n != len(accepted)*2600 {
		t.Fatalf("message bodies damaged: %d lines for %d messages", n, len(accepted))
	}
	// Space is free again: mail flows.
	if err := sendPlain(in.addr["smtp"], "a@remote.test", "kate@example.test", strings.Replace(body, "%s", "after", 1)); err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
	in.stop()
}
