// Package e2e drives the built pochta binary exactly as an admin and real
// mail clients would: config file, CLI subcommands, `pochta serve`, then
// clients nobody here wrote (Python's smtplib/poplib/imaplib, Go's
// net/smtp, mbsync, Postfix) over loopback sockets.
package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pochta/internal/dnstest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pochta-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pochta")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/pochta")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building pochta:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// services lists the listener keys of the config file.
var services = []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http", "managesieve"}

// instanceOptions shape one pochta under test.
type instanceOptions struct {
	Hostname   string
	IP         string         // listen address, default 127.0.0.1
	Ports      map[string]int // fixed ports per service; others are free ports
	DNS        string         // ip:port of the test DNS server
	RemotePort int            // delivery.remote_port
	Extra      string         // appended to the config file
}

// instance is one pochta process with its own data folder and config.
type instance struct {
	t      testing.TB
	dir    string
	config string
	addr   map[string]string
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    bytes.Buffer
	waited chan struct{}
}

// freePort returns a port that is free on ip, chosen below the kernel's
// ephemeral range (32768 and up on Linux), so that the source port of some
// client connection cannot take it between this check and pochta binding it.
func freePort(t testing.TB, ip string) int {
	t.Helper()
	for i := 0; i < 200; i++ {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port found")
	return 0
}

func newInstance(t testing.TB, o instanceOptions) *instance {
	t.Helper()
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Hostname == "" {
		o.Hostname = "mx.example.test"
	}
	if o.RemotePort == 0 {
		o.RemotePort = 25
	}
	in := &instance{t: t, dir: t.TempDir(), addr: map[string]string{}}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "hostname = %q\ndata_dir = %q\n\n[listen]\n", o.Hostname, filepath.Join(in.dir, "data"))
	for _, s := range services {
		port := o.Ports[s]
		if port == 0 {
			port = freePort(t, o.IP)
		}
		in.addr[s] = net.JoinHostPort(o.IP, fmt.Sprint(port))
		fmt.Fprintf(&cfg, "%s = [%q]\n", s, in.addr[s])
	}
	fmt.Fprintf(&cfg, "\n[delivery]\nremote_port = %d\nconnect_timeout = \"3s\"\n", o.RemotePort)
	if o.IP != "127.0.0.1" {
		// Outbound mail leaves from the instance's own address, so the
		// receiving side's checks (iprev, SPF) see who really sends.
		fmt.Fprintf(&cfg, "local_addr = %q\n", o.IP)
	}
	if o.DNS == "" {
		// Never the machine's resolver: the inbound checks look names
		// up for every message. An empty zone answers NXDOMAIN.
		o.DNS = dnstest.Start(t, nil).Addr()
	}
	if o.DNS != "" {
		fmt.Fprintf(&cfg, "\n[dns]\nservers = [%q]\ntimeout = \"2s\"\n", o.DNS)
	}
	fmt.Fprintf(&cfg, "\n[auth]\nfailure_delay = \"50ms\"\nmax_failure_delay = \"200ms\"\n")
	cfg.WriteString(o.Extra)
	in.config = filepath.Join(in.dir, "pochta.toml")
	if err := os.WriteFile(in.config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if in.cmd != nil {
			in.kill()
		}
		if t.Failed() {
			t.Logf("pochta log (%s):\n%s", o.Hostname, in.logText())
		}
	})
	return in
}

func (in *instance) logText() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.log.String()
}

// run runs a CLI subcommand ("user add") with this instance's config
// placed right after it, as an admin would type it, and returns the output.
func (in *instance) run(stdin, words string, args ...string) string {
	in.t.Helper()
	out, err := in.tryRun(stdin, words, args...)
	if err != nil {
		in.t.Fatalf("pochta %s %s: %v\n%s", words, strings.Join(args, " "), err, out)
	}
	return out
}

func (in *instance) tryRun(stdin, words string, args ...string) (string, error) {
	full := append(append(strings.Fields(words), "--config", in.config), args...)
	cmd := exec.Command(binary, full...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// addUser creates domain (if needed) and an account with a password.
func (in *instance) addUser(addr, password string) {
	in.t.Helper()
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	if !strings.Contains(in.run("", "domain list"), domain+"\t") {
		in.run("", "domain add", domain)
	}
	in.run(password+"\n", "user add", "--password-stdin", addr)
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// start runs `pochta serve` and waits until every service accepts.
func (in *instance) start() {
	in.t.Helper()
	cmd := exec.Command(binary, "serve", "--config", in.config)
	w := lockedWriter{&in.mu, &in.log}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.cmd = cmd
	in.waited = make(chan struct{})
	go func() { cmd.Wait(); close(in.waited) }()
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range services {
		for {
			c, err := net.DialTimeout("tcp", in.addr[s], time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-in.waited:
				in.t.Fatalf("pochta exited early:\n%s", in.logText())
			default:
			}
			if time.Now().After(deadline) {
				in.t.Fatalf("%s on %s never came up:\n%s", s, in.addr[s], in.logText())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (in *instance) stop() {
	in.t.Helper()
	stopStart := time.Now()
	defer func() { in.t.Logf("stop took %v", time.Since(stopStart)) }()
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.waited:
	case <-time.After(40 * time.Second):
		in.kill()
		in.t.Fatalf("pochta did not stop on SIGTERM:\n%s", in.logText())
	}
	if code := in.cmd.ProcessState.ExitCode(); code != 0 {
		in.t.Fatalf("pochta exited with %d after SIGTERM:\n%s", code, in.logText())
	}
	in.cmd = nil
}

// kill sends SIGKILL: a crash.
func (in *instance) kill() {
	in.cmd.Process.Kill()
	<-in.waited
	in.cmd = nil
}

// python runs a script from testdata with args and returns its stdout.
func python(t testing.TB, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command("python3", append([]string{filepath.Join("testdata", script)}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 %s %v: %v\nstdout:\n%s\nstderr:\n%s", script, args, err, out.String(), errb.String())
	}
	return out.String()
}

// lines splits output into non-empty lines.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func hostPort(t testing.TB, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}
