package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"pochta/internal/pgtest"
	"pochta/internal/store"
)

// BenchmarkDeliver measures Deliver of 4 KiB messages into one account
// from 1 and 32 concurrent writers on one node, commit included
// (synchronous_commit on, the server's default), and reports how many
// deliveries shared a commit.
func BenchmarkDeliver(b *testing.B) {
	srv := pgtest.Start(b)
	msg := "Subject: bench\r\n\r\n" + strings.Repeat("x", 4096) + "\r\n"
	for _, writers := range []int{1, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, err := Open(context.Background(), srv.NewDatabase(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if err := s.AddDomain(ctx, "example.org"); err != nil {
				b.Fatal(err)
			}
			acc, err := s.AddAccount(ctx, "u@example.org", "x")
			if err != nil {
				b.Fatal(err)
			}
			c0 := s.commits.Load()
			b.ResetTimer()
			var wg sync.WaitGroup
			work := make(chan struct{})
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						if _, err := s.Deliver(ctx, strings.NewReader(msg), []store.Target{{AccountID: acc.ID}}); err != nil {
							b.Error(err)
						}
					}
				}()
			}
			for i := 0; i < b.N; i++ {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(b.N)/float64(s.commits.Load()-c0), "msgs/commit")
		})
	}
}
