package e2e

import (
	"fmt"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCompareInbound delivers 4 KiB messages over loopback SMTP to
// pochta (the built binary: 250 after the message is fsynced into the
// mailbox) and to a real Postfix on the same machine (250 after the message
// is fsynced into its queue), with 1 and 50 concurrent sessions, and reports
// messages per second for each: the side-by-side figure in README.
//
//	go test ./tests/e2e -run '^$' -bench Compare -benchtime 2000x
func BenchmarkCompareInbound(b *testing.B) {
	body := []byte("From: <bench@remote.test>\r\nSubject: bench\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 62)+"\r\n", 64))
	type target struct {
		name, addr, rcpt string
		pid              func() int
	}
	var targets []target

	in := newInstance(b, instanceOptions{Extra: "\n[log]\nlevel = \"warn\"\n"})
	in.addUser("kate@example.test", "pw")
	in.start()
	targets = append(targets, target{"pochta", in.addr["smtp"], "kate@example.test", func() int { return in.cmd.Process.Pid }})

	if os.Geteuid() == 0 {
		port := freePort(b, "127.0.0.4")
		startPostfix(b, postfixOptions{Hostname: "mx.p.test", IP: "127.0.0.4", Port: port, Domain: "p.test",
			Mailboxes: []string{"kate"}, Relayhost: "[127.0.0.9]:9"})
		targets = append(targets, target{"postfix", fmt.Sprintf("127.0.0.4:%d", port), "kate@p.test", nil})
	}

	for _, tg := range targets {
		for _, senders := range []int{1, 50} {
			b.Run(fmt.Sprintf("%s/senders=%d", tg.name, senders), func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				var next atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, senders)
				b.ResetTimer()
				start := time.Now()
				for s := 0; s < senders; s++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c, err := smtp.Dial(tg.addr)
						if err != nil {
							errs <- err
							return
						}
						defer c.Quit()
						if err := c.Hello("bench.example.test"); err != nil {
							errs <- err
							return
						}
						for next.Add(1) <= int64(b.N) {
							if err := benchSend(c, tg.rcpt, body); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
				if tg.pid != nil {
					b.ReportMetric(float64(rssKiB(tg.pid())), "RSS-KiB")
				}
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			})
		}
	}
}

func benchSend(c *smtp.Client, rcpt string, body []byte) error {
	if err := c.Mail("bench@remote.test"); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Close()
}

// rssKiB reads a process's resident set size from /proc.
func rssKiB(pid int) int { return procStatusKiB(pid, "VmRSS") }

// procStatusKiB reads a kB field (VmRSS, VmHWM: the peak) of
// /proc/PID/status; 0 if it cannot.
func procStatusKiB(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}
