package e2e

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoginStorm is the burst every server sees when it restarts and all
// its clients reconnect: IMAP logins, 200 at a time, against the built
// binary. With the verification cache (the default) a repeated login
// costs no argon2id hash; without it identical logins in flight still
// share one. With every password different (and wrong, as in password
// spraying) every login computes a hash of 19 MiB, so resident memory
// stays bounded only because the hashes computed at once are. Logins/s
// and peak RSS (VmHWM) are logged for each.
func TestLoginStorm(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string // lands in the [auth] table newInstance writes last
		total int
		wrong bool // a different wrong password for every login
	}{
		{"cache", "", 1000, false},
		{"nocache", "cache_ttl = \"0s\"\n", 1000, false},
		{"wrong-passwords", "", 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInstance(t, instanceOptions{Extra: tc.extra + "\n[log]\nlevel = \"warn\"\n"})
			in.addUser("storm@example.test", "storm-password-1")
			in.start()
			pid := in.cmd.Process.Pid
			before := procStatusKiB(pid, "VmHWM")
			start := time.Now()
			pass := func(i int64) string { return "storm-password-1" }
			if tc.wrong {
				pass = func(i int64) string { return fmt.Sprintf("wrong-%d", i) }
			}
			failed := loginStorm(t, in.addr["imap"], "storm@example.test", pass, tc.total, 200)
			if tc.wrong {
				failed = tc.total - failed // every login must be refused
			}
			elapsed := time.Since(start)
			peak := procStatusKiB(pid, "VmHWM")
			t.Logf("%d logins, 200 concurrent: %.0f logins/s; VmHWM %d MiB before, %d MiB after",
				tc.total, float64(tc.total)/elapsed.Seconds(), before>>10, peak>>10)
			if before == 0 || peak == 0 {
				t.Fatalf("no VmHWM in /proc/%d/status", pid)
			}
			if failed > 0 {
				t.Errorf("%d of %d logins had the wrong outcome", failed, tc.total)
			}
			// Unbounded, 200 concurrent hashes alone take 3.8 GiB
			// (measured before the bound: 6.9 GiB).
			if peak > 400<<10 {
				t.Errorf("peak RSS %d MiB during the login storm, want < 400 MiB", peak>>10)
			}
		})
	}
}

// loginStorm runs total IMAP LOGIN+LOGOUT sessions, conc at a time, the
// i-th with password pass(i), and returns how many failed.
func loginStorm(t *testing.T, addr, user string, pass func(int64) string, total, conc int) int {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(total); i = next.Add(1) {
				if err := imapLogin(addr, user, pass(i)); err != nil {
					failed.Add(1)
					once.Do(func() { t.Logf("first unsuccessful login: %v", err) })
				}
			}
		}()
	}
	wg.Wait()
	return int(failed.Load())
}

// imapLogin connects, logs in with LOGIN and logs out.
func imapLogin(addr, user, pass string) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
		return fmt.Errorf("greeting %q: %v", line, err)
	}
	fmt.Fprintf(c, "a LOGIN %q %q\r\n", user, pass)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "a ") {
			if !strings.HasPrefix(line, "a OK") {
				return fmt.Errorf("login: %q", line)
			}
			break
		}
	}
	_, err = c.Write([]byte("b LOGOUT\r\n"))
	return err
}
