package e2e

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestIMAPPushAfterSMTP drives the built binary with go-imap v2's client:
// STARTTLS, LOGIN, SELECT, IDLE; a message then arrives by SMTP (Python's
// smtplib) and the idle client hears EXISTS within a second or two; it then
// fetches ENVELOPE and the body, flags it, and sees the flag from a second
// session.
func TestIMAPPushAfterSMTP(t *testing.T) {
	in := newInstance(t, instanceOptions{})
	in.addUser("kate@example.test", "kate-pw")
	in.start()

	exists := make(chan uint32, 16)
	c, err := imapclient.DialStartTLS(in.addr["imap"], &imapclient.Options{
		TLSConfig: &tls.Config{InsecureSkipVerify: true},
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
	if err := c.Login("kate@example.test", "kate-pw").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 0 {
		t.Fatalf("select: %v %+v", err, sel)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	h, p := hostPort(t, in.addr["smtp"])
	python(t, "smtp_send.py", h, p, "plain", "john@remote.test", "kate@example.test", "pushed by IDLE")
	select {
	case n := <-exists:
		if n != 1 {
			t.Fatalf("EXISTS %d", n)
		}
		t.Logf("EXISTS %v after the SMTP send began", time.Since(sent).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("IDLE never reported the new message")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		UID: true, Envelope: true, Flags: true,
		BodySection: []*imap.FetchItemBodySection{{}},
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v %d", err, len(msgs))
	}
	m := msgs[0]
	if m.Envelope == nil || m.Envelope.Subject != "pushed by IDLE" || len(m.Envelope.From) != 1 || m.Envelope.From[0].Addr() != "john@remote.test" {
		t.Fatalf("envelope %+v", m.Envelope)
	}
	var body []byte
	for _, b := range m.BodySection {
		body = b.Bytes
	}
	if !strings.Contains(string(body), "The mountains were beautiful.") {
		t.Fatalf("body %q", body)
	}
	if err := c.Store(imap.UIDSetNum(m.UID), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}

	// A second device sees the flag.
	c2, err := imapclient.DialStartTLS(in.addr["imap"], &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login("kate@example.test", "kate-pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	res, err := c2.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, nil).Wait()
	if err != nil || len(res.AllUIDs()) != 1 || res.AllUIDs()[0] != m.UID {
		t.Fatalf("second session search: %v %v", err, res)
	}
	c2.Logout().Wait()
	c.Logout().Wait()
	in.stop()
}
