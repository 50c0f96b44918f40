package smtpserver

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pochta/internal/auth"
	"pochta/internal/spam"
)

// rspamdConf is a minimal Rspamd configuration for tests: the stock rules
// (common.conf), one normal worker on a loopback port and no controller or
// proxy, every file in the test's folder, a DNS server that does not exist
// (no network lookups leave the machine; DNS-based rules fail quickly),
// no hyperscan compilation (start in seconds, not tens of seconds), and
// the test GTUBE variants enabled (YJS... = "add header").
const rspamdConf = `.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    filters = "regexp";
    disable_hyperscan = true;
    enable_test_patterns = true;
    cache_file = "$DBDIR/symbols.cache";
    dynamic_conf = "$DBDIR/rspamd_dynamic";
    history_file = "$DBDIR/rspamd.history";
    control_socket = "$DBDIR/rspamd.sock mode=0600";
    url_tld = "${SHAREDIR}/effective_tld_names.dat";
    tempdir = "$DBDIR";
    dns {
        nameserver = ["127.0.0.1:9"];
        timeout = 0.2s;
        retransmits = 0;
    }
}
logging {
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "warning";
}
worker "normal" {
    bind_socket = "%s";
    count = 1;
    task_timeout = 8s;
}
`

// startRspamd runs a real Rspamd (Debian package rspamd) in the
// foreground with its own configuration and folders in a temporary
// directory, and returns its base URL and a function that stops it (also
// called at cleanup). It fails, never skips, when rspamd is missing.
func startRspamd(t *testing.T) (string, func()) {
	t.Helper()
	bin, err := exec.LookPath("rspamd")
	if err != nil {
		t.Fatalf("rspamd is not installed (Debian package rspamd): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	for _, d := range []string{"db", "run", "log", "local"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "rspamd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(rspamdConf, addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", "-c", conf,
		"--var=DBDIR=" + filepath.Join(dir, "db"), "--var=RUNDIR=" + filepath.Join(dir, "run"),
		"--var=LOGDIR=" + filepath.Join(dir, "log"), "--var=LOCAL_CONFDIR=" + filepath.Join(dir, "local")}
	if os.Geteuid() == 0 {
		args = append(args, "-i", "-u", "root", "-g", "root")
	}
	cmd := exec.Command(bin, args...)
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM) // the main process stops its workers
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(stop)
	url := "http://" + addr
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(90 * time.Second); ; {
		if resp, err := client.Get(url + "/ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-exited:
			logs, _ := os.ReadFile(filepath.Join(dir, "stdout.log"))
			t.Fatalf("rspamd exited at startup:\n%s", logs)
		default:
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(dir, "stdout.log"))
			t.Fatalf("rspamd did not answer /ping within 90 s:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("rspamd %s ready in %v", addr, time.Since(start).Round(time.Millisecond))
	return url, stop
}

// TestRspamd: with a real Rspamd, its action decides (GTUBE: reject;
// the "add header" test pattern: Junk; a normal message: INBOX) and its
// score and symbols are shown; with Rspamd stopped, mail is still
// delivered with the built-in score and the fallback is counted.
func TestRspamd(t *testing.T) {
	url, stop := startRspamd(t)
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	filter := spam.New(spam.Options{RspamdURL: url, RspamdTimeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	opts.Spam = filter
	addr := startServer(t, opts)

	normal := "From: Sender <sender@remote.example>\r\nTo: alice@example.com\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n" +
		"Message-ID: <r1@remote.example>\r\nSubject: Lunch\r\n\r\nShall we have lunch tomorrow at noon?\r\n"
	addHeader := strings.Replace(normal, "Shall we", "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\nShall we", 1)
	deliverRaw(t, addr, "sender@remote.example", []string{"alice@example.com"}, normal, "250 2.0.0")
	deliverRaw(t, addr, "sender@remote.example", []string{"alice@example.com"}, addHeader, "250 2.0.0")
	deliverRaw(t, addr, "sender@remote.example", []string{"alice@example.com"}, strings.Replace(normal, "Shall we", gtubeString+"\r\nShall we", 1), "550 5.7.1")
	// The add-header verdict is filed into Junk by the default Sieve rule.
	got := append(f.inbox("alice@example.com"), f.folder("alice@example.com", "Junk")...)
	if n := len(f.folder("alice@example.com", "Junk")); n != 1 {
		t.Fatalf("Junk has %d messages, want 1", n)
	}
	if len(got) != 2 {
		t.Fatalf("inbox has %d messages, want 2", len(got))
	}
	for _, line := range strings.SplitAfter(got[0], "\r\n") {
		if strings.HasPrefix(line, "X-Spam") {
			t.Logf("normal message judged by Rspamd: %q", line)
		}
	}
	if !strings.Contains(got[0], "X-Spam-Score: ") || strings.Contains(got[0], "X-Spam: Yes") {
		t.Errorf("normal message with Rspamd:\n%s", got[0])
	}
	if !strings.Contains(got[1], "X-Spam-Score: 6.0") || !strings.Contains(got[1], "X-Spam: Yes\r\n") {
		t.Errorf("add-header message with Rspamd:\n%s", got[1])
	}
	if st := filter.Stats(); st.RspamdChecked != 3 || st.RspamdFallbacks != 0 {
		t.Errorf("stats with Rspamd up: %+v", st)
	}

	stop()
	noDate := "From: Sender <sender@remote.example>\r\nMessage-ID: <r2@remote.example>\r\nSubject: After\r\n\r\nRspamd is gone.\r\n"
	deliverRaw(t, addr, "sender@remote.example", []string{"alice@example.com"}, noDate, "250 2.0.0")
	deliverRaw(t, addr, "sender@remote.example", []string{"alice@example.com"}, "Subject: g\r\n\r\n"+gtubeString+"\r\n", "550 5.7.1")
	got = f.inbox("alice@example.com")
	if len(got) != 2 || !strings.Contains(got[1], "X-Spam-Score: 0.5 (MISSING_DATE=0.5)\r\n") {
		t.Fatalf("after Rspamd stopped: %d messages in INBOX, last:\n%s", len(got), got[len(got)-1])
	}
	if st := filter.Stats(); st.RspamdChecked != 3 || st.RspamdFallbacks != 2 || st.Rejected != 2 {
		t.Errorf("stats with Rspamd down: %+v", st)
	}
}
