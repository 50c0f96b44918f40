package smtpclient_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// received is one message a test server accepted.
type received struct {
	host     string // which test server
	from     string
	mailOpts smtp.MailOptions
	rcpts    []string
	rcptOpts []smtp.RcptOptions
	data     []byte
	tls      bool
	authUser string
}

// backend is a go-smtp backend recording what it receives, shared by all
// test servers of a test.
type backend struct {
	mu   sync.Mutex
	msgs []*received
	// rcptErr maps an address to the RCPT refusal it gets.
	rcptErr map[string]*smtp.SMTPError
	dataErr *smtp.SMTPError
	// refuse lists host names whose sessions fail at EHLO (451).
	refuse map[string]bool
	user   string
	pass   string
	// sessions and logouts count connections opened and ended.
	sessions, logouts int
}

func newBackend() *backend {
	return &backend{rcptErr: map[string]*smtp.SMTPError{}, refuse: map[string]bool{}}
}

func (b *backend) messages() []*received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*received(nil), b.msgs...)
}

type hostBackend struct {
	*backend
	host string
}

func (hb hostBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	hb.mu.Lock()
	refuse := hb.refuse[hb.host]
	hb.mu.Unlock()
	if refuse {
		return nil, errors.New("go away")
	}
	hb.mu.Lock()
	hb.sessions++
	hb.mu.Unlock()
	return &session{b: hb.backend, c: c, m: &received{host: hb.host}}, nil
}

type session struct {
	b *backend
	c *smtp.Conn
	m *received
}

func (s *session) Reset() { s.m = &received{host: s.m.host, authUser: s.m.authUser} }
func (s *session) Logout() error {
	s.b.mu.Lock()
	s.b.logouts++
	s.b.mu.Unlock()
	return nil
}

func (s *session) AuthMechanisms() []string {
	if s.b.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.b.user || pass != s.b.pass {
			return smtp.ErrAuthFailed
		}
		s.m.authUser = user
		return nil
	}), nil
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.b.user != "" && s.m.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.m.from = from
	if opts != nil {
		s.m.mailOpts = *opts
	}
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.b.mu.Lock()
	e := s.b.rcptErr[to]
	s.b.mu.Unlock()
	if e != nil {
		return e
	}
	s.m.rcpts = append(s.m.rcpts, to)
	if opts != nil {
		s.m.rcptOpts = append(s.m.rcptOpts, *opts)
	} else {
		s.m.rcptOpts = append(s.m.rcptOpts, smtp.RcptOptions{})
	}
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.b.dataErr != nil {
		return s.b.dataErr
	}
	s.m.data = data
	_, s.m.tls = s.c.TLSConnectionState()
	s.b.msgs = append(s.b.msgs, s.m)
	s.m = &received{host: s.m.host, authUser: s.m.authUser}
	return nil
}

// servers starts a go-smtp server on each of hosts (127.0.0.x), all on
// one common port, which it returns. configure may adjust each server
// before it starts.
func servers(t *testing.T, be *backend, hosts []string, configure func(host string, s *smtp.Server)) int {
	t.Helper()
	var (
		port int
		ls   []net.Listener
	)
	for try := 0; try < 20 && ls == nil; try++ {
		first, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = first.Addr().(*net.TCPAddr).Port
		first.Close()
		for _, h := range hosts {
			l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", h, port))
			if err != nil {
				for _, l := range ls {
					l.Close()
				}
				ls = nil
				break
			}
			ls = append(ls, l)
		}
	}
	if ls == nil {
		t.Fatal("no common free port")
	}
	for i, h := range hosts {
		s := smtp.NewServer(hostBackend{be, h})
		s.Domain = h
		s.ReadTimeout = 10 * time.Second
		s.WriteTimeout = 10 * time.Second
		s.MaxLineLength = 4000
		if configure != nil {
			configure(h, s)
		}
		l := ls[i]
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Serve(l)
		}()
		t.Cleanup(func() {
			// Close the listener too: s.Close misses a listener whose
			// Serve has not registered it yet.
			s.Close()
			l.Close()
			<-done
		})
	}
	return port
}

// selfSigned makes a certificate for names.
func selfSigned(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// scripted is a raw SMTP peer for behaviour go-smtp's server cannot
// show (no PIPELINING/CHUNKING, odd replies): it answers each command
// with the reply the script gives for its verb, and records the dialogue.
type scripted struct {
	l       net.Listener
	replies map[string]string // verb → reply lines (with CRLF); "" = greeting
	mu      sync.Mutex
	log     bytes.Buffer
	data    []byte
	done    chan struct{}
}

func startScripted(t *testing.T, addr string, replies map[string]string) *scripted {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{l: l, replies: replies, done: make(chan struct{})}
	go s.serve()
	t.Cleanup(func() {
		l.Close()
		<-s.done
	})
	return s
}

func (s *scripted) serve() {
	defer close(s.done)
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.handle(c)
	}
}

func (s *scripted) handle(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	readLine := func() (string, bool) {
		for {
			if i := bytes.Index(buf, []byte("\r\n")); i >= 0 {
				line := string(buf[:i])
				buf = buf[i+2:]
				return line, true
			}
			n, err := c.Read(tmp)
			if err != nil {
				return "", false
			}
			buf = append(buf, tmp[:n]...)
		}
	}
	io.WriteString(c, s.reply(""))
	for {
		line, ok := readLine()
		if !ok {
			return
		}
		s.mu.Lock()
		s.log.WriteString(line + "\n")
		s.mu.Unlock()
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		if i := strings.IndexByte(verb, ':'); i >= 0 {
			verb = verb[:i]
		}
		rep := s.reply(verb)
		if rep == "" {
			rep = "500 5.5.1 unknown command\r\n"
		}
		io.WriteString(c, rep)
		if verb == "DATA" && strings.HasPrefix(rep, "354") {
			var data bytes.Buffer
			for {
				l, ok := readLine()
				if !ok {
					return
				}
				if l == "." {
					break
				}
				data.WriteString(l + "\r\n")
			}
			s.mu.Lock()
			s.data = data.Bytes()
			s.mu.Unlock()
			io.WriteString(c, s.reply("."))
		}
		if verb == "QUIT" {
			return
		}
	}
}

func (s *scripted) reply(verb string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replies[verb]
}

func (s *scripted) set(verb, rep string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies[verb] = rep
}

func (s *scripted) dialogue() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}
