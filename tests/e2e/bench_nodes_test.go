package e2e

import (
	"fmt"
	"net/smtp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pochta/internal/pgtest"
)

// BenchmarkNodes delivers 4 KiB messages over loopback SMTP to 1, 2 and 4
// `pochta serve` nodes (127.0.0.2 and up) sharing one PostgreSQL, and to a
// single node on the embedded SQLite store, with the same 16 concurrent
// sessions spread round-robin over the nodes, and reports messages per
// second for each: the side-by-side figure in README ("Several nodes on
// PostgreSQL"). rcpts=1 sends everything to one mailbox (every commit
// takes the same account and mailbox rows); rcpts=16 gives each session
// its own recipient. A benchmark, not a timed test: it asserts nothing
// about speed; b.N bounds the count.
//
//	go test ./tests/e2e -run '^$' -bench Nodes -benchtime 1000x
func BenchmarkNodes(b *testing.B) {
	const senders = 16
	body := []byte("From: <bench@remote.test>\r\nSubject: bench\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 62)+"\r\n", 64))
	quiet := "\n[log]\nlevel = \"warn\"\n"

	srv := pgtest.Start(b)
	for _, rcpts := range []int{1, senders} {
		b.Run(fmt.Sprintf("rcpts=%d/sqlite/nodes=1", rcpts), func(b *testing.B) {
			in := newInstance(b, instanceOptions{IP: "127.0.0.2", Extra: quiet})
			benchNodesSend(b, []*instance{in}, senders, rcpts, body)
		})
		for _, n := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("rcpts=%d/postgres/nodes=%d", rcpts, n), func(b *testing.B) {
				extra := quiet + fmt.Sprintf("\n[store]\nbackend = \"postgres\"\npostgres_url = %q\n", srv.NewDatabase(b))
				nodes := make([]*instance, n)
				for i := range nodes {
					nodes[i] = newInstance(b, instanceOptions{
						Hostname: fmt.Sprintf("n%d.example.test", i+1),
						IP:       fmt.Sprintf("127.0.0.%d", i+2),
						Extra:    extra,
					})
				}
				benchNodesSend(b, nodes, senders, rcpts, body)
			})
		}
	}
}

// benchNodesSend adds rcpts accounts through the first node's CLI,
// starts the nodes, runs senders SMTP sessions, session i on node i mod
// len(nodes) sending to account i mod rcpts, until b.N messages have been
// accepted in total, and reports msgs/s.
func benchNodesSend(b *testing.B, nodes []*instance, senders, rcpts int, body []byte) {
	for r := 0; r < rcpts; r++ {
		nodes[0].addUser(fmt.Sprintf("u%d@example.test", r), "pw")
	}
	for _, in := range nodes {
		in.start()
	}
	b.SetBytes(int64(len(body)))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	b.ResetTimer()
	start := time.Now()
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(addr, rcpt string) {
			defer wg.Done()
			c, err := smtp.Dial(addr)
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
				if err := benchSend(c, rcpt, body); err != nil {
					errs <- fmt.Errorf("%s: %w", addr, err)
					return
				}
			}
		}(nodes[s%len(nodes)].addr["smtp"], fmt.Sprintf("u%d@example.test", s%rcpts))
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
