package imapserver

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// go-imap v2's client drives a full session against the real server.
func TestGoIMAPClient(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 3; i++ {
		e.deliver("", testMessage(i, "go-imap "+itoa(i)))
	}
	var mu sync.Mutex
	var exists []uint32
	existsCh := make(chan uint32, 10)
	c, err := imapclient.DialInsecure(e.addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					mu.Lock()
					exists = append(exists, *d.NumMessages)
					mu.Unlock()
					select {
					case existsCh <- *d.NumMessages:
					default:
					}
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.org", testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has(imap.CapIMAP4rev2) || !c.Caps().Has(imap.CapMove) {
		t.Fatalf("caps %v", c.Caps())
	}
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, b := range boxes {
		names[b.Mailbox] = true
	}
	if !names["INBOX"] || !names["Sent"] || !names["Archive"] {
		t.Fatalf("LIST: %v", names)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 3 || sel.UIDValidity == 0 || sel.UIDNext != 4 {
		t.Fatalf("SELECT: %+v", sel)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[0].Envelope.Subject != "go-imap 1" || msgs[1].UID != 2 || msgs[2].RFC822Size == 0 {
		t.Fatalf("FETCH: %+v", msgs[0])
	}
	if body := msgs[0].FindBodySection(&imap.FetchItemBodySection{}); !strings.Contains(string(body), "Body of message 1.") {
		t.Fatalf("body %q", body)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	res, err := c.Search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if nums := res.AllSeqNums(); len(nums) != 1 || nums[0] != 1 {
		t.Fatalf("SEARCH: %v", nums)
	}
	res, err = c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "go-imap 2"}}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if uids := res.AllUIDs(); len(uids) != 1 || uids[0] != 2 {
		t.Fatalf("UID SEARCH: %v", uids)
	}
	msg := "From: me@example.org\r\nSubject: appended\r\n\r\nhi\r\n"
	app := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	app.Write([]byte(msg))
	app.Close()
	ad, err := app.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if ad.UID != 4 || ad.UIDValidity != sel.UIDValidity {
		t.Fatalf("APPEND: %+v", ad)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	cd, err := c.Copy(imap.SeqSetNum(1, 2), "Archive").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if cd.DestUIDs.String() != "1:2" {
		t.Fatalf("COPY: %+v", cd)
	}
	md, err := c.Move(imap.UIDSetNum(3), "Junk").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if md.DestUIDs.String() != "1" {
		t.Fatalf("MOVE: %+v", md)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	gone, err := c.Expunge().Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 || gone[0] != 1 {
		t.Fatalf("EXPUNGE: %v", gone)
	}
	st, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true, Size: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 2 {
		t.Fatalf("STATUS: %+v", st)
	}
	// IDLE hears a delivery.
	for len(existsCh) > 0 {
		<-existsCh
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	e.deliver("", testMessage(9, "during idle"))
	select {
	case n := <-existsCh:
		if n != 3 {
			t.Fatalf("EXISTS %d during IDLE", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no EXISTS during IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}
