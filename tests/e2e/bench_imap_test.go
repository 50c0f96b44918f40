package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// benchMessages is the size of the mailbox both servers serve.
const benchMessages = 10000

// benchRareWord appears in the subject of 1% of the messages only.
const benchRareWord = "zeppelin"

// BenchmarkCompareIMAP serves the same 10,000-message INBOX from pochta
// (the built binary, mail imported with `pochta import maildir`) and from
// a real Dovecot on the same machine (the very same Maildir as its user's
// ~/Maildir), and times common client operations over plain IMAP on
// loopback with go-imap v2's client, one logged-in session per server:
// SELECT+UNSELECT, UID FETCH 1:* (UID FLAGS), UID SEARCH SUBJECT for a
// word in 1% of the subjects, UID FETCH of one random message's
// BODY.PEEK[], and STORE +FLAGS/-FLAGS \Seen on 100 messages. After the
// operations it reports the server's resident memory: pochta's process, or
// the sum over Dovecot's master and its child processes.
//
//	go test ./tests/e2e -run '^$' -bench CompareIMAP -benchtime 20x
func BenchmarkCompareIMAP(b *testing.B) {
	const user, pass = "kate@example.test", "kate-pw"

	dc := newDovecot(b, dovecotOptions{User: user, Password: pass})
	writeBenchMaildir(b, dc.maildir(), benchMessages)

	in := newInstance(b, instanceOptions{Extra: "\n[log]\nlevel = \"warn\"\n"})
	in.addUser(user, pass)
	out := in.run("", "import maildir", dc.maildir(), user)
	if !strings.Contains(out, fmt.Sprintf("imported %d messages", benchMessages)) {
		b.Fatalf("import: %s", out)
	}
	in.start()
	dc.start()

	type server struct {
		name, addr string
		rss        func() int
	}
	servers := []server{
		{"pochta", in.addr["imap"], func() int { return rssKiB(in.cmd.Process.Pid) }},
		{"dovecot", dc.addr, dc.rssKiB},
	}
	for _, sv := range servers {
		b.Run(sv.name, func(b *testing.B) {
			c, err := imapclient.DialInsecure(sv.addr, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if err := c.Login(user, pass).Wait(); err != nil {
				b.Fatalf("%s LOGIN: %v", sv.name, err)
			}
			// Warm-up, outside every timer: the first SELECT lets Dovecot
			// build its index of the Maildir, as pochta's import built its
			// own; the UIDs are then known for the random fetches.
			sel, err := c.Select("INBOX", nil).Wait()
			if err != nil {
				b.Fatal(err)
			}
			if sel.NumMessages != benchMessages {
				b.Fatalf("%s: INBOX has %d messages, want %d", sv.name, sel.NumMessages, benchMessages)
			}
			msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
			if err != nil || len(msgs) != benchMessages {
				b.Fatalf("%s: warm-up fetch: %d messages, %v", sv.name, len(msgs), err)
			}
			uids := make([]imap.UID, len(msgs))
			for i, m := range msgs {
				uids[i] = m.UID
			}
			if err := c.Unselect().Wait(); err != nil {
				b.Fatal(err)
			}
			selected := false
			selectInbox := func(b *testing.B) {
				if !selected {
					if _, err := c.Select("INBOX", nil).Wait(); err != nil {
						b.Fatal(err)
					}
					selected = true
				}
			}

			b.Run("select", func(b *testing.B) {
				if selected {
					if err := c.Unselect().Wait(); err != nil {
						b.Fatal(err)
					}
					selected = false
				}
				b.ResetTimer()
				for range b.N {
					sel, err := c.Select("INBOX", nil).Wait()
					if err != nil || sel.NumMessages != benchMessages {
						b.Fatalf("SELECT: %v", err)
					}
					if err := c.Unselect().Wait(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("fetch-all-flags", func(b *testing.B) {
				selectInbox(b)
				b.ResetTimer()
				for range b.N {
					msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
					if err != nil || len(msgs) != benchMessages {
						b.Fatalf("UID FETCH 1:*: %d messages, %v", len(msgs), err)
					}
				}
			})
			b.Run("search-subject", func(b *testing.B) {
				selectInbox(b)
				b.ResetTimer()
				for range b.N {
					data, err := c.UIDSearch(&imap.SearchCriteria{
						Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: benchRareWord}},
					}, nil).Wait()
					if err != nil || len(data.AllUIDs()) != benchMessages/100 {
						b.Fatalf("UID SEARCH SUBJECT: %v %v", err, data)
					}
				}
			})
			b.Run("fetch-body", func(b *testing.B) {
				selectInbox(b)
				rng := rand.New(rand.NewPCG(1, 2))
				section := &imap.FetchItemBodySection{Peek: true}
				b.ResetTimer()
				for range b.N {
					uid := uids[rng.IntN(len(uids))]
					msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
					if err != nil || len(msgs) != 1 || len(msgs[0].BodySection) != 1 || len(msgs[0].BodySection[0].Bytes) < 2048 {
						b.Fatalf("UID FETCH %d BODY.PEEK[]: %v", uid, err)
					}
				}
			})
			b.Run("store-100", func(b *testing.B) {
				selectInbox(b)
				var set imap.UIDSet
				for _, u := range uids[5000:5100] {
					set.AddNum(u)
				}
				// Unseen first, so that each STORE changes all 100 flags
				// and every server answers with 100 FETCH responses
				// (Dovecot sends none for a message whose flags stay).
				if _, err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect(); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					for _, op := range []imap.StoreFlagsOp{imap.StoreFlagsAdd, imap.StoreFlagsDel} {
						msgs, err := c.Store(set, &imap.StoreFlags{Op: op, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
						if err != nil || len(msgs) != 100 {
							b.Fatalf("UID STORE: %d replies, %v", len(msgs), err)
						}
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(sv.rss()), "RSS-KiB")
			})
		})
	}
}

// writeBenchMaildir fills the Maildir dir (cur/, new/ and tmp/ exist) with
// n realistic messages written directly as files: varied senders and
// subjects, 2-8 KiB bodies, dates spread over a year (also the files'
// mtimes, the internal dates), 70% seen and 5% flagged, the newest 2% still
// in new/. Exactly 1% of the subjects contain benchRareWord.
func writeBenchMaildir(t testing.TB, dir string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(42, 7))
	first := []string{"Anna", "Boris", "Chen", "Dana", "Erik", "Fatima", "Goran", "Hana", "Ivan", "Julia", "Kofi", "Lena", "Mateo", "Nora", "Olga", "Pavel"}
	last := []string{"Ivanova", "Smith", "Garcia", "Novak", "Kowalski", "Berg", "Okafor", "Tanaka", "Rossi", "Dubois", "Petrov", "Silva"}
	domains := []string{"example.org", "mail.example.net", "corp.example.com", "lists.example.edu", "shop.example"}
	topics := []string{"quarterly report", "meeting notes", "invoice", "release plan", "travel booking", "lunch on Friday",
		"code review", "budget draft", "server migration", "holiday schedule", "customer feedback", "weekly digest",
		"contract renewal", "design mock-ups", "build failure", "password policy", "team offsite", "conference talk"}
	words := strings.Fields("the of and to in is that for it as with was on be by at this from have or an they which " +
		"one you had not but what all were when we there can more if no out so said time about would up has " +
		"project schedule customer delivery report meeting review server budget release update question thanks")
	start := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := range n {
		date := start.Add(time.Duration(i) * 50 * time.Minute)
		name := first[rng.IntN(len(first))] + " " + last[rng.IntN(len(last))]
		from := strings.ToLower(strings.Fields(name)[0]) + "@" + domains[rng.IntN(len(domains))]
		subject := topics[rng.IntN(len(topics))]
		switch {
		case i%100 == 37:
			subject = "the " + benchRareWord + " " + subject
		case rng.IntN(3) == 0:
			subject = "Re: " + subject
		}
		var m strings.Builder
		fmt.Fprintf(&m, "Return-Path: <%s>\nDelivered-To: kate@example.test\n", from)
		fmt.Fprintf(&m, "From: %s <%s>\nTo: Kate <kate@example.test>\nSubject: %s #%d\n", name, from, subject, i)
		fmt.Fprintf(&m, "Date: %s\nMessage-ID: <%d.%d@%s>\nMIME-Version: 1.0\n", date.Format(time.RFC1123Z), i, rng.Uint32(), domains[0])
		m.WriteString("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
		size := 2048 + rng.IntN(6*1024)
		line := 0
		for m.Len() < size {
			m.WriteString(words[rng.IntN(len(words))])
			if line++; line%12 == 0 {
				m.WriteString("\n")
			} else {
				m.WriteString(" ")
			}
		}
		m.WriteString("\n")
		body := m.String()
		sub, info := "cur", ":2,"
		if i >= n-n/50 {
			sub, info = "new", ""
		} else {
			if rng.IntN(20) == 0 {
				info += "F"
			}
			if rng.IntN(10) < 7 {
				info += "S"
			}
		}
		file := filepath.Join(dir, sub, fmt.Sprintf("%d.M%dP%d.bench,S=%d%s", date.Unix(), i, 4242, len(body), info))
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(file, date, date); err != nil {
			t.Fatal(err)
		}
	}
}
