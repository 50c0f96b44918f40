package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pochta/internal/dnstest"
)

// postfixOptions shape one Postfix under test.
type postfixOptions struct {
	Hostname  string   // myhostname
	IP        string   // smtpd listen address and outbound source address
	Port      int      // smtpd port
	Domain    string   // the one virtual mailbox domain, delivered to Maildirs
	Mailboxes []string // local parts of Domain that exist
	Relayhost string   // "[ip]:port" that receives all other mail
}

// postfix is a real Postfix, started by the test as root with its own
// configuration, queue, data and log folders inside t.TempDir(), listening
// only on loopback. It never does DNS (smtp_dns_support_level=disabled,
// bracketed relayhost) and is stopped when the test ends.
type postfix struct {
	t       testing.TB
	bin     string
	dir     string
	conf    string
	vmail   string
	maillog string
}

// nobodyID is the unprivileged uid/gid the virtual delivery agent writes
// Maildirs as (Postfix refuses root there).
const nobodyID = 65534

func startPostfix(t testing.TB, o postfixOptions) *postfix {
	t.Helper()
	bin := needTool(t, "postfix")
	if os.Geteuid() != 0 {
		t.Fatal("Postfix's master must be started by root: run the e2e tests as root (as .ci/run does in CI)")
	}
	dir := t.TempDir()
	// The virtual agent runs as nobody and must reach its Maildirs; Postfix
	// itself enters its queue folder as root before dropping privileges.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pf := &postfix{t: t, bin: bin, dir: dir, conf: filepath.Join(dir, "conf"),
		vmail: filepath.Join(dir, "vmail"), maillog: filepath.Join(dir, "maillog")}
	for _, d := range []string{pf.conf, filepath.Join(dir, "spool"), pf.vmail} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(pf.vmail, nobodyID, nobodyID); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(pf.conf, "smtpd.crt"), filepath.Join(pf.conf, "smtpd.key")
	writeSelfSigned(t, o.Hostname, certFile, keyFile)

	var vmailbox strings.Builder
	for _, m := range o.Mailboxes {
		fmt.Fprintf(&vmailbox, "%s@%s %s/\n", m, o.Domain, m)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(pf.conf, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("vmailbox", vmailbox.String())
	write("main.cf", strings.Join([]string{
		"compatibility_level = 3.6",
		"queue_directory = " + filepath.Join(dir, "spool"),
		"data_directory = " + filepath.Join(dir, "data"),
		"mail_owner = postfix",
		// Logging to a file through the postlog service: no syslog needed.
		"maillog_file = " + pf.maillog,
		"maillog_file_prefixes = " + dir,
		"myhostname = " + o.Hostname,
		"mydomain = " + o.Domain,
		"myorigin = " + o.Domain,
		"mydestination =",
		"local_recipient_maps =",
		"alias_maps =",
		"alias_database =",
		// The smtpd service in master.cf names its own address; this only
		// keeps Postfix's interface check on loopback.
		"inet_interfaces = loopback-only",
		"inet_protocols = ipv4",
		"mynetworks = 127.0.0.0/8",
		"smtpd_peername_lookup = no",
		"smtpd_tls_security_level = may",
		"smtpd_tls_cert_file = " + certFile,
		"smtpd_tls_key_file = " + keyFile,
		"smtpd_tls_received_header = yes",
		"smtp_bind_address = " + o.IP,
		"smtp_dns_support_level = disabled",
		"smtp_tls_security_level = may",
		"relayhost = " + o.Relayhost,
		"virtual_mailbox_domains = " + o.Domain,
		"virtual_mailbox_base = " + pf.vmail,
		"virtual_mailbox_maps = texthash:" + filepath.Join(pf.conf, "vmailbox"),
		"virtual_uid_maps = static:" + strconv.Itoa(nobodyID),
		"virtual_gid_maps = static:" + strconv.Itoa(nobodyID),
		"biff = no",
		// Retry a deferred message quickly if pochta answered 4xx.
		"queue_run_delay = 2s",
		"minimal_backoff_time = 2s",
		"maximal_backoff_time = 4s",
		"",
	}, "\n"))
	write("master.cf", fmt.Sprintf(`%s:%d inet n - n - - smtpd
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
virtual   unix  - n n -    - virtual
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
tlsmgr    unix  - - n 1000? 1 tlsmgr
postlog   unix-dgram n - n - 1 postlogd
`, o.IP, o.Port))

	// "start" creates the queue folders with their owners (as "postfix
	// check" would) and runs the master in the background.
	t.Cleanup(pf.stop)
	pf.postfix("start")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(pf.logText(), "daemon started") {
		if time.Now().After(deadline) {
			t.Fatalf("Postfix did not start; its log:\n%s", pf.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return pf
}

// postfix runs the postfix command on this instance's configuration. Its
// output goes to a file, not a pipe, so that the daemonised master cannot
// hold the command open.
func (pf *postfix) postfix(args ...string) {
	pf.t.Helper()
	out, err := os.CreateTemp(pf.dir, "postfix-cmd")
	if err != nil {
		pf.t.Fatal(err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.Command(pf.bin, append([]string{"-c", pf.conf}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		text, _ := os.ReadFile(out.Name())
		pf.t.Fatalf("postfix %s: %v\n%s\nPostfix log:\n%s", strings.Join(args, " "), err, text, pf.logText())
	}
}

func (pf *postfix) logText() string {
	b, _ := os.ReadFile(pf.maillog)
	return string(b)
}

// stop stops this Postfix only: "postfix stop", then waits for the master
// named in its own pid file to exit, and kills that one process if it
// does not.
func (pf *postfix) stop() {
	pidText, _ := os.ReadFile(filepath.Join(pf.dir, "spool", "pid", "master.pid"))
	cmd := exec.Command(pf.bin, "-c", pf.conf, "stop")
	stopErr := cmd.Run()
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err == nil && pid > 1 {
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			syscall.Kill(pid, syscall.SIGKILL)
			pf.t.Errorf("Postfix master %d ignored postfix stop (%v) and was killed", pid, stopErr)
		}
	}
	if pf.t.Failed() {
		pf.t.Logf("Postfix log:\n%s", pf.logText())
	}
}

// waitMaildir polls the Maildir of a virtual mailbox until new/ holds a
// message containing every one of wants, and returns it.
func (pf *postfix) waitMaildir(mailbox string, wants ...string) string {
	pf.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(pf.vmail, mailbox, "new", "*"))
		var seen []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			msg := string(b)
			ok := true
			for _, w := range wants {
				ok = ok && strings.Contains(msg, w)
			}
			if ok {
				return msg
			}
			seen = append(seen, msg)
		}
		if time.Now().After(deadline) {
			pf.t.Fatalf("Postfix Maildir %s never got a message with %q; it has %d:\n%s",
				mailbox, wants, len(seen), strings.Join(seen, "\n-----\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// writeSelfSigned writes a self-signed certificate and key for host.
func writeSelfSigned(t testing.TB, host, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(
		os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644),
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600),
	); err != nil {
		t.Fatal(err)
	}
}

// TestPostfix exchanges mail both ways between pochta (b.test, 127.0.0.3)
// and a real Postfix (p.test, 127.0.0.4), both on one SMTP port, each
// using STARTTLS opportunistically as real MTAs do, and checks that each
// side's rejections come back to the sender as bounces.
func TestPostfix(t *testing.T) {
	port := freePort(t, "127.0.0.4")
	dns := dnstest.Start(t, dnstest.Zone{
		"b.test":    {MX: []dnstest.MX{{Host: "mx.b.test", Pref: 10}}},
		"mx.b.test": {A: []string{"127.0.0.3"}},
		"127.0.0.3": {PTR: []string{"mx.b.test"}},
		"p.test":    {MX: []dnstest.MX{{Host: "mx.p.test", Pref: 10}}, TXT: []string{"v=spf1 ip4:127.0.0.4 -all"}},
		"mx.p.test": {A: []string{"127.0.0.4"}},
		"127.0.0.4": {PTR: []string{"mx.p.test"}},
	})
	b := newInstance(t, instanceOptions{Hostname: "mx.b.test", IP: "127.0.0.3", Ports: map[string]int{"smtp": port},
		DNS: dns.Addr(), RemotePort: port, Extra: "\n[queue]\nfirst_retry = \"1s\"\nmax_retry = \"2s\"\n"})
	b.addUser("kate@b.test", "kate-pw")
	b.start()
	pf := startPostfix(t, postfixOptions{Hostname: "mx.p.test", IP: "127.0.0.4", Port: port,
		Domain: "p.test", Mailboxes: []string{"someone"}, Relayhost: fmt.Sprintf("[127.0.0.3]:%d", port)})

	t.Run("PochtaToPostfix", func(t *testing.T) {
		submit(t, b, "kate@b.test", "kate-pw", "kate@b.test", "someone@p.test", "Hello Postfix")
		msg := pf.waitMaildir("someone", "Subject: Hello Postfix")
		for _, want := range []string{
			"Return-Path: <kate@b.test>",
			"Delivered-To: someone@p.test",
			"Received: from mx.b.test (unknown [127.0.0.", // pochta's EHLO; the kernel picks the source address
			"(using TLS",                            // pochta's client used Postfix's STARTTLS
			"by mx.p.test (Postfix) with ESMTPS id", // ... and Postfix says so
			"by mx.b.test with ESMTPSA id",          // kate's submission
			"Message-ID:", "Date:",
			"\nThe mountains were beautiful.\n.\nA line with a dot above.\n", // dot-unstuffed exactly once
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("Postfix's copy lacks %q:\n%s", want, msg)
			}
		}
	})

	t.Run("PostfixToPochta", func(t *testing.T) {
		h, p := hostPort(t, fmt.Sprintf("127.0.0.4:%d", port))
		python(t, "smtp_send.py", h, p, "plain", "someone@p.test", "kate@b.test", "Hello pochta from Postfix")
		msg := waitMailbox(t, b, "kate@b.test", "kate-pw", "INBOX", "Subject: Hello pochta from Postfix")
		for _, want := range []string{
			"Return-Path: <someone@p.test>",
			"Received: from mx.p.test ([127.0.0.4])", // Postfix's EHLO and source address
			"by mx.b.test with ESMTPS id",            // Postfix's client used pochta's STARTTLS
			"by mx.p.test (Postfix) with ESMTP id",   // the injection into Postfix
			"\r\nThe mountains were beautiful.\r\n.\r\nA line with a dot above.\r\n",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("pochta's copy lacks %q:\n%s", want, msg)
			}
		}
		waitPostfixLog(t, pf, "to=<kate@b.test>, relay=127.0.0.3[127.0.0.3]:"+strconv.Itoa(port), "status=sent (250 ")
	})

	t.Run("PochtaRefusalBouncedByPostfix", func(t *testing.T) {
		h, p := hostPort(t, fmt.Sprintf("127.0.0.4:%d", port))
		python(t, "smtp_send.py", h, p, "plain", "someone@p.test", "nobody@b.test", "To nobody at pochta")
		waitPostfixLog(t, pf, "to=<nobody@b.test>", "status=bounced (host 127.0.0.3[127.0.0.3] said: 550 5.1.1")
		bounce := pf.waitMaildir("someone", "nobody@b.test", "Subject: Undelivered Mail Returned to Sender")
		if !strings.Contains(bounce, "Subject: To nobody at pochta") {
			t.Errorf("Postfix's bounce does not quote the message:\n%s", bounce)
		}
	})

	t.Run("PostfixRefusalBouncedByPochta", func(t *testing.T) {
		submit(t, b, "kate@b.test", "kate-pw", "kate@b.test", "nobody@p.test", "To nobody at Postfix")
		dsn := waitMailbox(t, b, "kate@b.test", "kate-pw", "INBOX", "nobody@p.test", "multipart/report")
		for _, want := range []string{"report-type=delivery-status", "Action: failed", "Status: 5.1.1",
			"User unknown in virtual mailbox table", "Subject: To nobody at Postfix"} {
			if !strings.Contains(dsn, want) {
				t.Errorf("pochta's DSN lacks %q:\n%s", want, dsn)
			}
		}
		waitQueueEmpty(t, b)
	})

	// Postfix had nothing to complain about in either role: no protocol
	// warnings (improper pipelining, lost connections, TLS trouble).
	for _, l := range strings.Split(pf.logText(), "\n") {
		if strings.Contains(l, "warning:") || strings.Contains(l, "lost connection") || strings.Contains(l, "improper") {
			t.Errorf("Postfix logged: %s", l)
		}
	}
}

// waitPostfixLog polls Postfix's log for one line containing every one of
// wants.
func waitPostfixLog(t testing.TB, pf *postfix, wants ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, l := range strings.Split(pf.logText(), "\n") {
			ok := true
			for _, w := range wants {
				ok = ok && strings.Contains(l, w)
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Postfix never logged a line with %q:\n%s", wants, pf.logText())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
