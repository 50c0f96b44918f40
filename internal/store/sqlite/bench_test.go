package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pochta/internal/store"
)

// message4K is a 4 KiB message.
func message4K() []byte {
	head := "From: sender@example.net\r\nTo: bob@example.org\r\nSubject: benchmark message\r\n\r\n"
	line := "The quick brown fox jumps over the lazy dog, again and again.\r\n"
	var b bytes.Buffer
	b.WriteString(head)
	for b.Len()+len(line) <= 4096 {
		b.WriteString(line)
	}
	b.WriteString(strings.Repeat("x", 4096-b.Len()))
	return b.Bytes()
}

// messageText is a message of about size bytes of varied words (so that
// the trigram index sees as many distinct trigrams as in real text).
func messageText(size int) []byte {
	words := strings.Fields("mail server delivery queue mailbox folder message subject sender recipient " +
		"account password meeting tomorrow report quarterly budget invoice attached please review " +
		"thanks regards project deadline schedule update status customer support ticket")
	var b bytes.Buffer
	b.WriteString("From: sender@example.net\r\nTo: bob@example.org\r\nSubject: benchmark message\r\n\r\n")
	x := uint32(2463534242)
	for col := 0; b.Len() < size; {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		w := words[x%uint32(len(words))]
		if x&7 == 0 {
			w = fmt.Sprintf("%s%d", w, x%10000)
		}
		b.WriteString(w)
		col += len(w) + 1
		if col > 70 {
			b.WriteString("\r\n")
			col = 0
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func BenchmarkDeliver(b *testing.B) {
	for _, senders := range []int{1, 50} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) { benchDeliver(b, senders, message4K()) })
	}
	b.Run("size=100KiB/senders=50", func(b *testing.B) { benchDeliver(b, 50, messageText(100<<10)) })
}

func benchDeliver(b *testing.B, senders int, msg []byte) {
	s := openTest(b, b.TempDir())
	defer s.Close()
	a := setupAccount(b, s)
	b.SetBytes(int64(len(msg)))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := s.Deliver(context.Background(), bytes.NewReader(msg), []store.Target{{AccountID: a.ID}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// fillMailbox inserts n messages sharing one blob into the INBOX in one
// transaction, bypassing Deliver, to build large mailboxes quickly.
func fillMailbox(b *testing.B, s *Store, n int) store.Mailbox {
	b.Helper()
	ctx := context.Background()
	a := setupAccount(b, s)
	d, err := s.Deliver(ctx, strings.NewReader(testMsg("seed", "seed body")), []store.Target{{AccountID: a.ID}})
	if err != nil {
		b.Fatal(err)
	}
	err = s.write(ctx, nil, func(tx *wtx, e *effects) error {
		var blob, size int64
		if err := tx.QueryRow("SELECT blob_id, size FROM messages WHERE mailbox_id = ? AND uid = 1", d[0].MailboxID).Scan(&blob, &size); err != nil {
			return err
		}
		stmt, err := tx.Prepare(insertMsg)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for uid := 2; uid <= n; uid++ {
			seen := int64(uid % 2)
			flags := ""
			if seen == 1 {
				flags = `\Seen`
			}
			if _, err := stmt.Exec(d[0].MailboxID, uid, 2, flags, seen, 0, time.Now().UnixNano(), size, blob); err != nil {
				return err
			}
		}
		if _, err := tx.Exec("UPDATE blobs SET refs = ? WHERE id = ?", n, blob); err != nil {
			return err
		}
		var dl delta
		dl.msgs, dl.size, dl.unseen = int64(n-1), int64(n-1)*size, int64(n-1)/2
		return updateMailbox(tx, d[0].MailboxID, uint32(n+1), 2, dl)
	})
	if err != nil {
		b.Fatal(err)
	}
	mb, err := mailboxByID(ctx, s.rdb, d[0].MailboxID)
	if err != nil {
		b.Fatal(err)
	}
	return mb
}

func BenchmarkUIDs100k(b *testing.B) {
	s := openTest(b, b.TempDir())
	defer s.Close()
	mb := fillMailbox(b, s, 100000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u, err := s.UIDs(context.Background(), mb.ID)
		if err != nil || len(u) != 100000 {
			b.Fatal(len(u), err)
		}
	}
}

func BenchmarkStatus100k(b *testing.B) {
	s := openTest(b, b.TempDir())
	defer s.Close()
	mb := fillMailbox(b, s, 100000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := s.Status(context.Background(), mb.ID)
		if err != nil || st.Messages != 100000 {
			b.Fatal(st, err)
		}
	}
}

func BenchmarkMessages100k(b *testing.B) {
	s := openTest(b, b.TempDir())
	defer s.Close()
	mb := fillMailbox(b, s, 100000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		err := s.Messages(context.Background(), mb.ID, nil, func(store.Message) error { n++; return nil })
		if err != nil || n != 100000 {
			b.Fatal(n, err)
		}
	}
}
