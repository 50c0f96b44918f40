package app

import (
	"context"
	"errors"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"pochta/internal/config"
	"pochta/internal/dnstest"
	"pochta/internal/srs"
)

// sink is the "remote" mail server of the forwarding test: go-smtp on
// loopback, recording envelopes.
type sink struct {
	mu   sync.Mutex
	msgs []sunk
	got  chan struct{}
	// refuse, when set, refuses RCPT of the addresses it returns an
	// error for; then, when set, is called in its own goroutine with
	// every message taken (a forwarding server).
	refuse func(rcpt string) error
	then   func(sunk)
}

type sunk struct {
	from  string
	rcpts []string
	data  string
}

func (s *sink) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct {
	s *sink
	m sunk
}

func (ss *sinkSession) Reset()        { ss.m = sunk{} }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(from string, _ *gosmtp.MailOptions) error {
	ss.m.from = from
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if ss.s.refuse != nil {
		if err := ss.s.refuse(to); err != nil {
			return err
		}
	}
	ss.m.rcpts = append(ss.m.rcpts, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.m.data = string(b)
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.m)
	ss.s.mu.Unlock()
	if ss.s.then != nil {
		go ss.s.then(ss.m)
	}
	ss.s.got <- struct{}{}
	return nil
}

// next waits (bounded) for the sink's next message.
func (s *sink) next(t *testing.T) sunk {
	t.Helper()
	select {
	case <-s.got:
	case <-time.After(30 * time.Second):
		t.Fatal("nothing arrived at the remote server within 30 s")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs[len(s.msgs)-1]
}

func startSink(t *testing.T) (*sink, int) { return startSinkWith(t, nil) }

// startSinkWith is startSink with the sink's hooks set by edit.
func startSinkWith(t *testing.T, edit func(*sink)) (*sink, int) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sk := &sink{got: make(chan struct{}, 10)}
	if edit != nil {
		edit(sk)
	}
	srv := gosmtp.NewServer(sk)
	srv.Domain = "mx.remote.test"
	srv.EnableSMTPUTF8 = true // net/smtp asks for it whenever offered
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); l.Close(); <-done })
	return sk, l.Addr().(*net.TCPAddr).Port
}

// TestForwardWithSRS: mail from sender.test to an alias of ours that
// points to remote.test leaves with MAIL FROM rewritten to an SRS0 address
// at our domain; the bounce sent back to that address through port 25 is
// forwarded to the original sender; forged and expired SRS addresses are
// refused at RCPT.
func TestForwardWithSRS(t *testing.T) {
	sk, port := startSink(t)
	dnsSrv := dnstest.Start(t, dnstest.Zone{
		"remote.test":    {MX: []dnstest.MX{{Host: "mx.remote.test", Pref: 10}}},
		"sender.test":    {MX: []dnstest.MX{{Host: "mx.remote.test", Pref: 10}}},
		"mx.remote.test": {A: []string{"127.0.0.1"}},
	})
	var cfg *config.Config
	a := startAppWith(t, "kate@example.test", func(c *config.Config) {
		c.DNS.Servers = []string{dnsSrv.Addr()}
		c.Delivery.RemotePort = port
		cfg = c
	})
	ctx := context.Background()
	if err := a.Store.AddAlias(ctx, "fwd@example.test", []string{"bob@remote.test"}); err != nil {
		t.Fatal(err)
	}
	smtpAddr := a.Addrs()["smtp"][0]
	msg := "From: <alice@sender.test>\r\nTo: <fwd@example.test>\r\nSubject: forwarded\r\n\r\nhello\r\n"
	if err := sendPlain(smtpAddr, "alice@sender.test", "fwd@example.test", msg); err != nil {
		t.Fatal(err)
	}
	out := sk.next(t)
	if !regexp.MustCompile(`^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=sender\.test=alice@example\.test$`).MatchString(out.from) ||
		len(out.rcpts) != 1 || out.rcpts[0] != "bob@remote.test" || !strings.Contains(out.data, "Subject: forwarded") {
		t.Fatalf("forwarded as MAIL FROM:<%s> RCPT %v", out.from, out.rcpts)
	}
	// The secret was generated into the store (every node shares it),
	// not into data_dir.
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "srs", "secret")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SRS secret file in data_dir: %v", err)
	}

	// remote.test bounces: null sender, to the SRS address, through our port 25.
	bounce := "From: MAILER-DAEMON@mx.remote.test\r\nTo: <" + out.from + ">\r\nSubject: Undelivered Mail\r\n\r\nbob is gone\r\n"
	if err := sendPlain(smtpAddr, "", out.from, bounce); err != nil {
		t.Fatal(err)
	}
	back := sk.next(t)
	if back.from != "" || len(back.rcpts) != 1 || back.rcpts[0] != "alice@sender.test" || !strings.Contains(back.data, "bob is gone") {
		t.Fatalf("bounce returned as MAIL FROM:<%s> RCPT %v", back.from, back.rcpts)
	}

	// Forged (user changed) and expired (signed with our secret 30 days ago).
	secrets, err := srs.LoadStateSecrets(ctx, a.Store)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := srs.New(secrets, 0, func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) })
	expired, _ := old.Forward("alice@sender.test", "example.test")
	for _, rcpt := range []string{strings.Replace(out.from, "=alice@", "=mallory@", 1), expired} {
		c, err := smtp.Dial(smtpAddr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Mail(""); err != nil {
			t.Fatal(err)
		}
		err = c.Rcpt(rcpt)
		var te *textproto.Error
		if !errors.As(err, &te) || te.Code != 550 || !strings.HasPrefix(te.Msg, "5.1.1 ") {
			t.Errorf("RCPT TO:<%s>: %v, want 550 5.1.1", rcpt, err)
		}
		c.Close()
	}
}

// sendPlain sends one message over a plain loopback SMTP session (no
// STARTTLS: the server's certificate is self-signed).
func sendPlain(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := sendFromTo(c, from, to, []byte(msg)); err != nil {
		return err
	}
	return c.Quit()
}
