package e2e

import (
	"fmt"
	"net/smtp"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCrashUnderLoad kills pochta with SIGKILL while 16 clients (Go's
// net/smtp) deliver concurrently, restarts it, and checks that every
// message that got a 250 is in the mailbox exactly once, and that nothing
// appears twice.
func TestCrashUnderLoad(t *testing.T) {
	in := newInstance(t, instanceOptions{})
	in.addUser("load@example.test", "pw-load-1")
	in.start()

	const senders = 16
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ { // bounded; the kill ends it much sooner
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("crash-%d-%d", g, i)
				body := fmt.Sprintf("From: load@remote.test\r\nTo: load@example.test\r\nSubject: %s\r\n\r\n%s\r\n", id, strings.Repeat("payload payload payload payload payload payload payload\r\n", 60))
				if err := sendPlain(in.addr["smtp"], "load@remote.test", "load@example.test", body); err != nil {
					return // the server died mid-transaction: not acknowledged
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		}(g)
	}
	time.Sleep(1500 * time.Millisecond)
	in.kill()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no message was acknowledged before the kill")
	}

	in.start()
	ph, pp := hostPort(t, in.addr["pop3"])
	out := python(t, "pop3_fetch.py", ph, pp, "load@example.test", "pw-load-1")
	seen := checkOnce(t, out, regexp.MustCompile(`(?m)^Subject: (crash-\d+-\d+)\r?$`), acked)
	t.Logf("%d acknowledged before SIGKILL, %d in the mailbox after restart", len(acked), seen)
	in.stop()
}

// checkOnce reports every acknowledged id (the first group of re in out)
// not present exactly once and any id present twice, and returns how
// many distinct ids out holds.
func checkOnce(t *testing.T, out string, re *regexp.Regexp, acked map[string]bool) int {
	t.Helper()
	seen := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		seen[m[1]]++
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Errorf("acknowledged %s is in the mailbox %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s is in the mailbox %d times", id, n)
		}
	}
	return len(seen)
}

// sendPlain delivers one message in its own SMTP session without STARTTLS
// (net/smtp.SendMail would insist on verifying our self-signed certificate).
func sendPlain(addr, from, to, body string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("load.example.test"); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
