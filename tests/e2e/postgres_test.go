package e2e

import (
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"pochta/internal/pgtest"
)

// TestTwoNodesOnPostgres: two `pochta serve` processes, on 127.0.0.2 and
// 127.0.0.3, share one PostgreSQL store. An account added through node
// A's CLI logs in on node B; mail delivered over SMTP to node A wakes an
// IMAP IDLE on node B and is read there; neither node keeps a store in
// its data folder.
func TestTwoNodesOnPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	extra := fmt.Sprintf("\n[store]\nbackend = \"postgres\"\npostgres_url = %q\n", srv.NewDatabase(t))
	a := newInstance(t, instanceOptions{Hostname: "a.example.test", IP: "127.0.0.2", Extra: extra})
	b := newInstance(t, instanceOptions{Hostname: "b.example.test", IP: "127.0.0.3", Extra: extra})
	a.addUser("kate@example.test", "kate-password-1")
	a.start()
	b.start()

	exists := make(chan uint32, 16)
	c, err := imapclient.DialInsecure(b.addr["imap"], &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					exists <- *d.NumMessages
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("kate@example.test", "kate-password-1").Wait(); err != nil {
		t.Fatalf("LOGIN on node B: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}

	sc, err := smtp.Dial(a.addr["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Hello("sender.example.net"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Mail("bob@sender.example.net"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Rcpt("kate@example.test"); err != nil {
		t.Fatal(err)
	}
	w, err := sc.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "From: <bob@sender.example.net>\r\nTo: <kate@example.test>\r\nSubject: across nodes\r\n\r\nsent to A, read on B\r\n")
	if err := w.Close(); err != nil {
		t.Fatalf("DATA on node A: %v", err)
	}
	sc.Quit()

	select {
	case n := <-exists:
		if n != 1 {
			t.Fatalf("IDLE on node B: %d EXISTS, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("IDLE on node B did not wake for the delivery on node A")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 1 || len(msgs[0].BodySection) != 1 {
		t.Fatalf("FETCH on node B: %v, %v", msgs, err)
	}
	if body := string(msgs[0].BodySection[0].Bytes); !strings.Contains(body, "Subject: across nodes") || !strings.Contains(body, "read on B") {
		t.Fatalf("FETCH on node B: %q", body)
	}
	for _, in := range []*instance{a, b} {
		if _, err := os.Stat(filepath.Join(in.dir, "data", "store")); !os.IsNotExist(err) {
			t.Errorf("a node keeps a store in its data folder (%s): %v", in.dir, err)
		}
	}
}
