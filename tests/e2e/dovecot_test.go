package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// dovecot is a real Dovecot IMAP server (Debian's dovecot-imapd), started
// by the test as root with its own configuration, base, state and log
// folders inside t.TempDir(), listening only on loopback without TLS. It
// has one user whose mail is the Maildir ~/Maildir under the temp folder,
// owned by nobody, and is stopped (only this master, by its own pid file)
// when the test ends.
type dovecot struct {
	t       testing.TB
	bin     string
	conf    string
	baseDir string
	logPath string
	addr    string // ip:port of the IMAP listener
	home    string // the user's home; the Maildir is home/Maildir
}

// dovecotOptions shape one Dovecot under test.
type dovecotOptions struct {
	IP       string // listen address, default 127.0.0.5
	User     string // login name
	Password string
}

// newDovecot prepares a Dovecot: configuration and an empty home folder.
// The caller may fill d.maildir() before calling d.start.
func newDovecot(t testing.TB, o dovecotOptions) *dovecot {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot"
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("dovecot is not installed: run .ci/run, which installs the Debian package dovecot-imapd")
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("Dovecot's master must be started by root: run the e2e tests as root (as .ci/run does in CI)")
	}
	if o.IP == "" {
		o.IP = "127.0.0.5"
	}
	dir := t.TempDir()
	// The mail processes run as nobody and must reach the home folder.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d := &dovecot{t: t, bin: bin, conf: filepath.Join(dir, "dovecot.conf"), baseDir: filepath.Join(dir, "run"),
		logPath: filepath.Join(dir, "dovecot.log"), home: filepath.Join(dir, "home"),
		addr: net.JoinHostPort(o.IP, strconv.Itoa(freePort(t, o.IP)))}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d.maildir(), sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The version decides the name of the cleartext-login setting
	// (disable_plaintext_auth until 2.3, auth_allow_cleartext from 2.4).
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("dovecot --version: %v", err)
	}
	cleartext := "disable_plaintext_auth = no"
	if v := strings.Fields(string(out)); len(v) > 0 && !strings.HasPrefix(v[0], "2.3") && !strings.HasPrefix(v[0], "2.2") {
		cleartext = "auth_allow_cleartext = yes"
	}
	passwd := filepath.Join(dir, "passwd")
	if err := os.WriteFile(passwd, []byte(fmt.Sprintf("%s:{PLAIN}%s:%d:%d::%s\n",
		o.User, o.Password, nobodyID, nobodyID, d.home)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(d.addr)
	conf := fmt.Sprintf(`base_dir = %s
state_dir = %s
log_path = %s
listen = %s
protocols = imap
ssl = no
%s
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %s
}
userdb {
  driver = passwd-file
  args = username_format=%%u %s
  default_fields = uid=%d gid=%d
}
service imap-login {
  inet_listener imap {
    address = %s
    port = %s
  }
}
`, d.baseDir, filepath.Join(dir, "state"), d.logPath, o.IP, cleartext, passwd, passwd,
		nobodyID, nobodyID, o.IP, port)
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// maildir is the user's Maildir.
func (d *dovecot) maildir() string { return filepath.Join(d.home, "Maildir") }

// start hands the home folder to nobody, runs the master (it daemonises)
// and waits until IMAP accepts.
func (d *dovecot) start() {
	d.t.Helper()
	err := filepath.Walk(d.home, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobodyID, nobodyID)
	})
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(d.stop)
	// The output goes to a file, not a pipe, so that the daemonised master
	// cannot hold the command open.
	out, err := os.CreateTemp(filepath.Dir(d.conf), "dovecot-cmd")
	if err != nil {
		d.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(d.bin, "-c", d.conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		text, _ := os.ReadFile(out.Name())
		d.t.Fatalf("dovecot -c %s: %v\n%s\nlog:\n%s", d.conf, err, text, d.logText())
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("Dovecot did not listen on %s; its log:\n%s", d.addr, d.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *dovecot) logText() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// masterPID reads this Dovecot's own master pid file (0 if absent).
func (d *dovecot) masterPID() int {
	b, err := os.ReadFile(filepath.Join(d.baseDir, "master.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	return pid
}

// rssKiB sums the resident set size of this Dovecot's master and of its
// direct children (every Dovecot service process, imap included).
func (d *dovecot) rssKiB() int {
	master := d.masterPID()
	if master == 0 {
		return 0
	}
	total := rssKiB(master)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the parenthesised command name: state, ppid.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(master) {
			total += rssKiB(pid)
		}
	}
	return total
}

// stop stops this Dovecot only: "doveadm stop" on its own configuration,
// then waits for the master named in its own pid file to exit, and kills
// that one process if it does not.
func (d *dovecot) stop() {
	pid := d.masterPID()
	doveadm := filepath.Join(filepath.Dir(d.bin), "doveadm")
	if _, err := os.Stat(doveadm); err != nil {
		doveadm = "doveadm"
	}
	cmd := exec.Command(doveadm, "-c", d.conf, "stop")
	stopErr := cmd.Run()
	if pid == 0 {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			d.t.Errorf("Dovecot master %d did not stop (doveadm stop: %v)", pid, stopErr)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDovecotMaildirImport lets a real Dovecot make a Maildir through IMAP
// (go-imap v2's client): folders created by CREATE (nested and non-ASCII,
// which Dovecot names in modified UTF-7), messages by APPEND with flags and
// internal dates, then flags and keywords changed by STORE and one message
// expunged. `pochta import maildir` then reads that Maildir and pochta's
// IMAP must show the same folders and, in each, the same messages in the
// same order with the same flags, internal dates and bytes as Dovecot
// shows.
func TestDovecotMaildirImport(t *testing.T) {
	const user, pass = "kate@example.test", "kate-pw"
	dc := newDovecot(t, dovecotOptions{User: user, Password: pass})
	dc.start()

	c, err := imapclient.DialInsecure(dc.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("Dovecot LOGIN: %v", err)
	}
	for _, name := range []string{"Work", "Work.Reports", "Entwürfe"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatalf("Dovecot CREATE %s: %v", name, err)
		}
	}
	base := time.Date(2024, 3, 5, 10, 30, 0, 0, time.UTC)
	appends := []struct {
		mailbox string
		flags   []imap.Flag
	}{
		{"INBOX", nil},
		{"INBOX", []imap.Flag{imap.FlagSeen}},
		{"INBOX", []imap.Flag{imap.FlagSeen, imap.FlagFlagged}},
		{"INBOX", []imap.Flag{imap.FlagDraft}},
		{"INBOX", nil},
		{"Work", []imap.Flag{imap.FlagSeen, imap.FlagAnswered, "project"}},
		{"Work", nil},
		{"Work.Reports", []imap.Flag{imap.FlagSeen, "$Forwarded"}},
		{"Entwürfe", []imap.Flag{imap.FlagDraft}},
	}
	for i, a := range appends {
		msg := fmt.Sprintf("From: John <john@remote.test>\r\nTo: <kate@example.test>\r\nSubject: message %d in %s\r\n"+
			"Date: %s\r\nMessage-ID: <%d@remote.test>\r\n\r\nHello %d,\r\nline two of %d.\r\n",
			i, a.mailbox, base.Format(time.RFC1123Z), i, i, i)
		cmd := c.Append(a.mailbox, int64(len(msg)), &imap.AppendOptions{Flags: a.flags, Time: base.Add(time.Duration(i) * time.Hour)})
		if _, err := cmd.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("Dovecot APPEND to %s: %v", a.mailbox, err)
		}
	}
	// Flags changed after delivery, a keyword Dovecot must list in
	// dovecot-keywords, and an expunge (the file goes, UIDs keep a gap).
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	stores := []struct {
		seq   uint32
		op    imap.StoreFlagsOp
		flags []imap.Flag
	}{
		{1, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen, "invoice"}},
		{2, imap.StoreFlagsAdd, []imap.Flag{imap.FlagAnswered}},
		{3, imap.StoreFlagsDel, []imap.Flag{imap.FlagSeen}},
		{4, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}},
	}
	for _, s := range stores {
		if _, err := c.Store(imap.SeqSetNum(s.seq), &imap.StoreFlags{Op: s.op, Silent: true, Flags: s.flags}, nil).Collect(); err != nil {
			t.Fatalf("Dovecot STORE: %v", err)
		}
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatalf("Dovecot EXPUNGE: %v", err)
	}
	want := imapSnapshot(t, c)
	c.Logout().Wait()
	c.Close()
	dc.stop()

	// Sanity: the Maildir really is Dovecot's own making.
	for _, f := range []string{"dovecot-uidlist", ".Work/dovecot-keywords", ".Work.Reports/cur", ".Entw&APw-rfe/cur"} {
		if _, err := os.Stat(filepath.Join(dc.maildir(), f)); err != nil {
			t.Fatalf("Dovecot's Maildir lacks %s: %v", f, err)
		}
	}

	in := newInstance(t, instanceOptions{})
	in.addUser(user, pass)
	out := in.run("", "import maildir", dc.maildir(), user)
	if !strings.Contains(out, fmt.Sprintf("imported %d messages", len(appends)-1)) {
		t.Fatalf("import: %s", out)
	}
	in.start()
	pc, err := imapclient.DialInsecure(in.addr["imap"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.Login(user, pass).Wait(); err != nil {
		t.Fatalf("pochta LOGIN: %v", err)
	}
	got := imapSnapshot(t, pc)
	// pochta gives every account its special-use folders; beyond those
	// (still empty), the folders must be Dovecot's, with the same content.
	for name, msgs := range got {
		if _, ok := want[name]; !ok && (msgs != "" || !strings.Contains(" Archive Drafts Junk Sent Trash ", " "+name+" ")) {
			t.Errorf("pochta has folder %q that Dovecot has not:\n%s", name, msgs)
		}
	}
	for name, msgs := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("pochta lacks Dovecot's folder %q", name)
		} else if g != msgs {
			t.Errorf("folder %q\npochta:\n%sDovecot:\n%s", name, g, msgs)
		}
	}
}

// snapMessage is what a client sees of one message.
type snapMessage struct {
	Flags []string
	Date  time.Time
	Body  string
}

// imapSnapshot lists every mailbox (hierarchy written with "/") and
// fetches every message's flags (without \Recent, sorted), internal date
// and full text, in sequence order; it returns each mailbox's messages as
// text.
func imapSnapshot(t *testing.T, c *imapclient.Client) map[string]string {
	t.Helper()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	snap := map[string][]snapMessage{}
	for _, l := range list {
		name := l.Mailbox
		if l.Delim != 0 && l.Delim != '/' {
			name = strings.ReplaceAll(name, string(l.Delim), "/")
		}
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("EXAMINE %s: %v", l.Mailbox, err)
		}
		var msgs []*imapclient.FetchMessageBuffer
		if sel.NumMessages > 0 {
			msgs, err = c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
				Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
			}).Collect()
			if err != nil {
				t.Fatalf("FETCH in %s: %v", l.Mailbox, err)
			}
		}
		list := []snapMessage{}
		for _, m := range msgs {
			var flags []string
			for _, f := range m.Flags {
				if f != `\Recent` {
					flags = append(flags, strings.ToLower(string(f)))
				}
			}
			sort.Strings(flags)
			var body string
			if len(m.BodySection) == 1 {
				body = string(m.BodySection[0].Bytes)
			}
			list = append(list, snapMessage{flags, m.InternalDate.UTC(), body})
		}
		snap[name] = list
	}
	out := map[string]string{}
	for n, msgs := range snap {
		var b strings.Builder
		for _, m := range msgs {
			fmt.Fprintf(&b, "  %v %s %q\n", m.Flags, m.Date.Format(time.RFC3339), m.Body)
		}
		out[n] = b.String()
	}
	return out
}
