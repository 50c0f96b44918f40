// Command mailbench measures any SMTP server's inbound delivery rate — so
// pochta and Postfix can be compared side by side on one machine. It runs a
// bounded number of concurrent senders over loopback, each delivering 4 KiB
// messages in one SMTP session (Go's net/smtp client), and prints messages
// per second and latency percentiles. Its idle mode holds many IMAP
// connections in IDLE and reports the server's memory per connection,
// measured from outside (/proc/PID/status and smaps_rollup).
//
//	mailbench -addr 127.0.0.1:2525 -to me@localhost -senders 50 -messages 2000
//	mailbench idle -addr 127.0.0.1:143 -user u -pass p -conns 1000 -pid 1234
//
// Further modes, for scripts/bench: fill (a stopped pochta's mailbox with
// many messages through the store), mbox (SELECT, FETCH and SEARCH timings
// on a large mailbox), pop3 (POP3 retrieval rate), maildir (a Maildir to
// import and serve), hash (pochta's argon2id hash of a password) and
// report (medians, ratios, JSON and an SVG plot of the measurements).
//
//	mailbench fill -data-dir DIR -user big@localhost -messages 1000000
//	mailbench mbox -addr 127.0.0.1:143 -user u -pass p -pid 1234
//	mailbench pop3 -addr 127.0.0.1:110 -user pop%d@localhost -pass p -sessions 10
//	mailbench report -in results.txt -json out.json -svg plot.svg
//
// Every line it prints is key=value pairs, for scripts/bench to collect.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		sub := map[string]func([]string){
			"idle": runIdle, "fill": runFill, "mbox": runMbox, "pop3": runPOP3,
			"maildir": runMaildir, "hash": runHash, "report": runReport,
		}
		if f := sub[os.Args[1]]; f != nil {
			f(os.Args[2:])
			return
		}
	}
	addr := flag.String("addr", "127.0.0.1:2525", "SMTP server (loopback only)")
	to := flag.String("to", "me@localhost", "recipient")
	from := flag.String("from", "bench@example.test", "sender")
	senders := flag.Int("senders", 1, "concurrent SMTP sessions")
	total := flag.Int("messages", 1000, "messages in all (bounded)")
	size := flag.Int("size", 4096, "message size in bytes")
	maxTime := flag.Duration("max-time", 2*time.Minute, "stop after this long in any case")
	flag.Parse()

	mustLoopback(*addr)
	body := message(*from, *to, *size)
	var next atomic.Int64
	var failed atomic.Int64
	lat := make([][]time.Duration, *senders)
	deadline := time.Now().Add(*maxTime)
	start := time.Now()
	var wg sync.WaitGroup
	for s := 0; s < *senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			c, err := smtp.Dial(*addr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer c.Quit()
			if err := c.Hello("bench.example.test"); err != nil {
				failed.Add(1)
				return
			}
			for next.Add(1) <= int64(*total) && time.Now().Before(deadline) {
				t0 := time.Now()
				if err := send(c, *from, *to, body); err != nil {
					failed.Add(1)
					c.Reset()
					continue
				}
				lat[s] = append(lat[s], time.Since(t0))
			}
		}(s)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[int(float64(len(all)-1)*p)]
	}
	fmt.Printf("addr=%s senders=%d size=%d delivered=%d failed=%d elapsed=%.2fs rate=%.0f msg/s p50=%v p99=%v\n",
		*addr, *senders, *size, len(all), failed.Load(), elapsed.Seconds(), float64(len(all))/elapsed.Seconds(),
		pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond))
	if failed.Load() > 0 {
		os.Exit(1)
	}
}

// mustLoopback exits unless addr is a loopback ip:port: the tool loads
// servers on this machine only.
func mustLoopback(addr string) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "mailbench: -addr must be a loopback ip:port")
		os.Exit(2)
	}
}

func send(c *smtp.Client, from, to string, body []byte) error {
	// MAIL FROM without net/smtp's SMTPUTF8 parameter (which it adds
	// whenever the server offers it): the messages are ASCII, and RFC 6531
	// §3.4 says a client SHOULD NOT ask for SMTPUTF8 when nothing needs
	// it — and a relay that kept the request could not pass the message to
	// smtp-sink, which does not offer it.
	id, err := c.Text.Cmd("MAIL FROM:<%s>", from)
	if err != nil {
		return err
	}
	c.Text.StartResponse(id)
	_, _, err = c.Text.ReadResponse(250)
	c.Text.EndResponse(id)
	if err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
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

func message(from, to string, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: benchmark\r\nMessage-ID: <bench@example.test>\r\n\r\n", from, to)
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return []byte(b.String())
}
