package e2e

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"pochta/internal/dnstest"
	"pochta/internal/pgtest"
)

// cluster is three `pochta serve` nodes on 127.0.0.2-127.0.0.4 sharing
// one PostgreSQL store and queue, a test DNS server, and a "remote" SMTP
// sink on 127.0.0.5 that the queue finds as remote.test's MX.
type cluster struct {
	nodes []*instance
	sink  *smtpSink
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	srv := pgtest.Start(t)
	sink := startSink(t, "127.0.0.5")
	zone := dnstest.Zone{
		"remote.test":    {MX: []dnstest.MX{{Host: "mx.remote.test", Pref: 10}}},
		"mx.remote.test": {A: []string{"127.0.0.5"}},
	}
	dns := dnstest.Start(t, zone)
	extra := fmt.Sprintf("\n[queue]\nfirst_retry = \"1s\"\nmax_retry = \"2s\"\nlease = \"2s\"\n"+
		"\n[store]\nbackend = \"postgres\"\npostgres_url = %q\n", srv.NewDatabase(t))
	c := &cluster{sink: sink}
	for i, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		c.nodes = append(c.nodes, newInstance(t, instanceOptions{
			Hostname: fmt.Sprintf("node%d.example.test", i), IP: ip, DNS: dns.Addr(),
			RemotePort: sink.port, Extra: extra,
		}))
	}
	c.nodes[0].addUser("kate@example.test", "kate-password-1")
	for _, n := range c.nodes {
		n.start()
	}
	return c
}

// smtpSink is the remote server: it counts what it accepts per Subject
// and, while hold is set, keeps the first delivery hanging at RCPT until
// released so that the delivering node holds the message's lease.
type smtpSink struct {
	port     int
	mu       sync.Mutex
	got      map[string]int
	from     map[string]string // Subject -> IP of the last node that delivered it
	msgs     map[string][]byte // Subject -> the last message with it
	hold     bool
	held     chan string   // the IP of a held delivery
	released chan struct{} // closed to let held deliveries go (with a 451)
}

func startSink(t *testing.T, ip string) *smtpSink {
	t.Helper()
	s := &smtpSink{got: map[string]int{}, from: map[string]string{}, msgs: map[string][]byte{}, held: make(chan string, 4), released: make(chan struct{})}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		host, _, _ := net.SplitHostPort(c.Conn().RemoteAddr().String())
		return &sinkSession{s: s, ip: host}, nil
	}))
	srv.Domain = "mx.remote.test"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *smtpSink) count(subject string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[subject]
}

type sinkSession struct {
	s  *smtpSink
	ip string
}

func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error {
	return nil
}

func (ss *sinkSession) Rcpt(string, *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	hold := ss.s.hold
	ss.s.mu.Unlock()
	if !hold {
		return nil
	}
	ss.s.held <- ss.ip
	select {
	case <-ss.s.released:
	case <-time.After(30 * time.Second):
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "held by the test"}
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`(?m)^Subject: (.*?)\r?$`).FindSubmatch(b)
	if m == nil {
		return &smtp.SMTPError{Code: 554, Message: "no Subject"}
	}
	ss.s.mu.Lock()
	ss.s.got[string(m[1])]++
	ss.s.from[string(m[1])] = ss.ip
	ss.s.msgs[string(m[1])] = b
	ss.s.mu.Unlock()
	return nil
}

// TestCluster runs the multi-node cases of issue 10 on one three-node
// cluster, in order: each leaves every node running.
func TestCluster(t *testing.T) {
	c := startCluster(t)
	a, b, n3 := c.nodes[0], c.nodes[1], c.nodes[2]

	t.Run("SMTPOnAReadOnBAndC", func(t *testing.T) {
		body := "From: <bob@sender.example.net>\r\nTo: <kate@example.test>\r\nSubject: three nodes\r\n\r\nsent to A\r\n"
		if err := sendPlain(a.addr["smtp"], "bob@sender.example.net", "kate@example.test", body); err != nil {
			t.Fatalf("SMTP to node A: %v", err)
		}
		waitMailbox(t, b, "kate@example.test", "kate-password-1", "INBOX", "Subject: three nodes", "sent to A")
		h, p := hostPort(t, n3.addr["pop3"])
		if out := python(t, "pop3_fetch.py", h, p, "kate@example.test", "kate-password-1"); !strings.Contains(out, "Subject: three nodes") {
			t.Fatalf("POP3 on node C does not show the message:\n%s", out)
		}
	})

	t.Run("RemoteDeliveredOnce", func(t *testing.T) {
		submit(t, a, "kate@example.test", "kate-password-1", "kate@example.test", "far@remote.test", "to the remote once")
		deadline := time.Now().Add(20 * time.Second)
		for c.sink.count("to the remote once") == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the remote server never got the message")
			}
			time.Sleep(100 * time.Millisecond)
		}
		waitQueueEmpty(t, a)
		// Another rescan of every node must not send it again.
		time.Sleep(2500 * time.Millisecond)
		if n := c.sink.count("to the remote once"); n != 1 {
			t.Fatalf("the remote server got the message %d times, want 1", n)
		}
	})

	t.Run("DKIMKeyOfNodeA", func(t *testing.T) { clusterDKIM(t, c) })

	t.Run("LeaseHolderKilled", func(t *testing.T) {
		c.sink.mu.Lock()
		c.sink.hold = true
		c.sink.mu.Unlock()
		submit(t, a, "kate@example.test", "kate-password-1", "kate@example.test", "far@remote.test", "held by a dead node")
		var ip string
		select {
		case ip = <-c.sink.held:
		case <-time.After(20 * time.Second):
			t.Fatal("no node tried to deliver to the remote server")
		}
		var holder *instance
		for _, n := range c.nodes {
			if h, _ := hostPort(t, n.addr["smtp"]); h == ip {
				holder = n
			}
		}
		if holder == nil {
			t.Fatalf("delivery came from %s, not from a node", ip)
		}
		holder.kill()
		c.sink.mu.Lock()
		c.sink.hold = false
		c.sink.mu.Unlock()
		close(c.sink.released)
		deadline := time.Now().Add(20 * time.Second)
		for c.sink.count("held by a dead node") == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no other node delivered the message after node %s was killed", ip)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.sink.mu.Lock()
		by := c.sink.from["held by a dead node"]
		c.sink.mu.Unlock()
		if by == ip {
			t.Fatalf("the killed node %s delivered the message", ip)
		}
		holder.start()
		for _, n := range c.nodes {
			waitQueueEmpty(t, n)
		}
		if n := c.sink.count("held by a dead node"); n != 1 {
			t.Fatalf("the remote server got the message %d times, want 1", n)
		}
	})

	t.Run("KillUnderSMTPLoad", func(t *testing.T) {
		const senders = 8
		var (
			mu    sync.Mutex
			acked = map[string]bool{}
			wg    sync.WaitGroup
			stop  = make(chan struct{})
		)
		for g := 0; g < senders; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				node := c.nodes[g%2]        // A and B
				for i := 0; i < 1000; i++ { // bounded; the kill ends it sooner
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("load-%d-%d", g, i)
					body := fmt.Sprintf("From: load@remote.test\r\nTo: kate@example.test\r\nSubject: %s\r\n\r\n%s\r\n", id, strings.Repeat("payload payload payload payload\r\n", 40))
					if err := sendPlain(node.addr["smtp"], "load@remote.test", "kate@example.test", body); err != nil {
						if g%2 == 0 {
							return // node A died mid-transaction: not acknowledged
						}
						continue
					}
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}(g)
		}
		time.Sleep(1500 * time.Millisecond)
		a.kill()
		time.Sleep(500 * time.Millisecond) // B goes on under load
		close(stop)
		wg.Wait()
		a.start()
		h, p := hostPort(t, n3.addr["pop3"])
		out := python(t, "pop3_fetch.py", h, p, "kate@example.test", "kate-password-1")
		seen := checkOnce(t, out, regexp.MustCompile(`(?m)^Subject: (load-\d+-\d+)\r?$`), acked)
		if len(acked) == 0 {
			t.Fatal("no message was acknowledged")
		}
		t.Logf("%d acknowledged by A and B around A's SIGKILL, %d in the mailbox", len(acked), seen)
	})

	t.Run("ConcurrentAppend", func(t *testing.T) {
		const perNode, appends = 2, 15
		setup, err := imapclient.DialInsecure(b.addr["imap"], nil)
		if err != nil {
			t.Fatal(err)
		}
		defer setup.Close()
		if err := setup.Login("kate@example.test", "kate-password-1").Wait(); err != nil {
			t.Fatal(err)
		}
		if err := setup.Create("Shared", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		type result struct {
			uids []imap.UID
			err  error
		}
		sessions := perNode * len(c.nodes)
		results := make(chan result, sessions)
		for i := 0; i < sessions; i++ {
			go func(i int) {
				var r result
				defer func() { results <- r }()
				cl, err := imapclient.DialInsecure(c.nodes[i%len(c.nodes)].addr["imap"], nil)
				if err != nil {
					r.err = err
					return
				}
				defer cl.Close()
				if r.err = cl.Login("kate@example.test", "kate-password-1").Wait(); r.err != nil {
					return
				}
				for j := 0; j < appends; j++ {
					msg := fmt.Sprintf("From: kate@example.test\r\nSubject: append-%d-%d\r\n\r\nbody\r\n", i, j)
					cmd := cl.Append("Shared", int64(len(msg)), nil)
					cmd.Write([]byte(msg))
					cmd.Close()
					data, err := cmd.Wait()
					if err != nil {
						r.err = fmt.Errorf("APPEND %d-%d: %w", i, j, err)
						return
					}
					r.uids = append(r.uids, data.UID)
				}
			}(i)
		}
		all := map[imap.UID]bool{}
		for i := 0; i < sessions; i++ {
			r := <-results
			if r.err != nil {
				t.Fatal(r.err)
			}
			for k, u := range r.uids {
				if u == 0 || all[u] {
					t.Fatalf("APPENDUID %d is zero or was given twice", u)
				}
				if k > 0 && u <= r.uids[k-1] {
					t.Fatalf("one session's UIDs do not increase: %v", r.uids)
				}
				all[u] = true
			}
		}
		if _, err := setup.Select("Shared", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := setup.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}} /* 1:* */, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		subjects := map[string]bool{}
		var prev imap.UID
		for _, m := range msgs {
			if m.UID <= prev {
				t.Fatalf("UIDs in sequence order do not increase: %d after %d", m.UID, prev)
			}
			prev = m.UID
			if !all[m.UID] {
				t.Errorf("UID %d is in the mailbox but was no APPENDUID", m.UID)
			}
			subjects[m.Envelope.Subject] = true
		}
		if len(msgs) != sessions*appends || len(subjects) != sessions*appends || len(all) != sessions*appends {
			t.Fatalf("%d messages with %d subjects and %d APPENDUIDs, want %d", len(msgs), len(subjects), len(all), sessions*appends)
		}
	})
}
