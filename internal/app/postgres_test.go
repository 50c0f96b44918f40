package app

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"pochta/internal/config"
	"pochta/internal/pgtest"
)

// postgresNodes starts a PostgreSQL server and two apps (two nodes) on
// one database of it; node a has the account kate@example.test ("pw").
func postgresNodes(t *testing.T) (srv *pgtest.Server, a, b *App) {
	srv = pgtest.Start(t)
	url := srv.NewDatabase(t)
	onPG := func(c *config.Config) {
		c.Store.Backend = "postgres"
		c.Store.PostgresURL = url
	}
	return srv, startAppWith(t, "kate@example.test", onPG), runApp(t, onPG)
}

// TestPostgresNodes runs two apps (two nodes) on one PostgreSQL store:
// mail delivered over SMTP to node A wakes an IMAP IDLE on node B and is
// read there; the health endpoint says 503 once the database is gone.
func TestPostgresNodes(t *testing.T) {
	srv, a, b := postgresNodes(t)

	mailbox := make(chan uint32, 16)
	c, err := imapclient.DialInsecure(b.Addrs()["imap"][0], &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					mailbox <- *d.NumMessages
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("kate@example.test", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	if code := sendTo(t, a, "kate@example.test"); code != 250 {
		t.Fatalf("SMTP to node A: %d", code)
	}
	select {
	case n := <-mailbox:
		if n != 1 {
			t.Fatalf("IDLE on node B: %d EXISTS, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("IDLE on node B did not hear the delivery on node A")
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
	if body := string(msgs[0].BodySection[0].Bytes); !strings.Contains(body, "Subject: hi") || !strings.Contains(body, "hello") {
		t.Fatalf("FETCH on node B: %q", body)
	}
	inboxCount(t, b, "kate@example.test", 1)

	health := func() int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+a.Addrs()["http"][0]+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := health(); code != 200 {
		t.Fatalf("healthz with the database up: %d", code)
	}
	srv.Stop()
	// The server's processes take a moment to die; wait (bounded).
	for tries := 0; ; tries++ {
		code := health()
		if code == 503 {
			break
		}
		if tries == 50 {
			t.Fatalf("healthz with the database down: %d, want 503", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
