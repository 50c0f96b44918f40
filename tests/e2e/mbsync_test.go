package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"pochta/internal/dnstest"
)

// mbsync runs mbsync (isync) on rc for every channel, bounded to 60 s,
// with its IMAP exchange traced (-Dn; credentials are masked by mbsync)
// so that a failure shows the protocol conversation.
func mbsync(t testing.TB, rc string) {
	t.Helper()
	bin := needTool(t, "mbsync")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-Dn", "-c", rc, "-a").CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mbsync timed out:\n%s", out)
	}
	if err != nil {
		t.Fatalf("mbsync: %v\n%s", err, out)
	}
}

// imapMessage is one message as imap_state.py reports it.
type imapMessage struct {
	UID, Flags, Subject string
}

// imapState lists every mailbox of user with its messages.
func imapState(t testing.TB, in *instance, user, pass string) map[string][]imapMessage {
	t.Helper()
	h, p := hostPort(t, in.addr["imap"])
	state := map[string][]imapMessage{}
	for _, l := range lines(python(t, "imap_state.py", h, p, user, pass)) {
		f := strings.SplitN(l, " ", 5)
		switch {
		case f[0] == "mailbox" && len(f) == 2:
			state[f[1]] = nil
		case f[0] == "msg" && len(f) >= 4:
			// msg MAILBOX UID (FLAGS...) SUBJECT: flags may hold spaces.
			rest := strings.SplitN(l, " ", 4)[3]
			end := strings.Index(rest, ")")
			if end < 0 {
				t.Fatalf("bad imap_state line %q", l)
			}
			state[f[1]] = append(state[f[1]], imapMessage{UID: f[2], Flags: rest[:end+1], Subject: strings.TrimSpace(rest[end+1:])})
		default:
			t.Fatalf("bad imap_state line %q", l)
		}
	}
	return state
}

// localMessages maps Subject to the file of each message of a local
// Maildir folder (new/ and cur/).
func localMessages(t testing.TB, folder string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, sub := range []string{"new", "cur"} {
		files, err := filepath.Glob(filepath.Join(folder, sub, "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(string(b), "\n") {
				l = strings.TrimRight(l, "\r")
				if l == "" {
					break
				}
				if s, ok := strings.CutPrefix(l, "Subject: "); ok {
					out[s] = f
				}
			}
		}
	}
	return out
}

// TestMbsync synchronises a pochta account with a local Maildir using
// mbsync (isync) over IMAP STARTTLS, then changes both sides and
// synchronises again: flags, deletions (expunged on the server), a new
// folder created locally with a message in it, and a flag set on the
// server must all cross over.
func TestMbsync(t *testing.T) {
	dns := dnstest.Start(t, dnstest.Zone{
		"example.test":    {MX: []dnstest.MX{{Host: "mx.example.test", Pref: 10}}},
		"mx.example.test": {A: []string{"127.0.0.1"}},
		"127.0.0.1":       {PTR: []string{"mx.example.test"}},
	})
	in := newInstance(t, instanceOptions{Hostname: "mx.example.test", DNS: dns.Addr()})
	in.addUser("kate@example.test", "kate-pw")
	in.start()
	sh, sp := hostPort(t, in.addr["smtp"])
	subjects := []string{"mbsync one", "mbsync two", "mbsync three"}
	for _, s := range subjects {
		python(t, "smtp_send.py", sh, sp, "plain", "john@remote.test", "kate@example.test", s)
	}
	waitMailbox(t, in, "kate@example.test", "kate-pw", "INBOX", "Subject: mbsync three")

	local := t.TempDir()
	if err := os.Mkdir(filepath.Join(local, "mail"), 0o700); err != nil { // mbsync wants its Path to exist
		t.Fatal(err)
	}
	ih, ip := hostPort(t, in.addr["imap"])
	rc := filepath.Join(local, "mbsyncrc")
	// isync 1.4 keywords (SSLType; 1.5 renamed it TLSType). A certificate
	// listed in CertificateFile is trusted as it is, so pochta's
	// self-signed one is accepted without turning verification off.
	err := os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount pochta
Host %s
Port %s
User kate@example.test
Pass kate-pw
SSLType STARTTLS
CertificateFile %s
Timeout 20

IMAPStore pochta-remote
Account pochta

MaildirStore pochta-local
Path %s/
Inbox %s
SubFolders Verbatim

Channel pochta
Far :pochta-remote:
Near :pochta-local:
Patterns *
Create Both
Expunge Both
SyncState *
`, ih, ip, filepath.Join(in.dir, "data", "tls", "selfsigned.crt"),
		filepath.Join(local, "mail"), filepath.Join(local, "inbox"))), 0o600)
	if err != nil {
		t.Fatal(err)
	}

	// First sync: everything comes down.
	mbsync(t, rc)
	inbox := localMessages(t, filepath.Join(local, "inbox"))
	for _, s := range subjects {
		if inbox[s] == "" {
			t.Fatalf("local INBOX lacks %q after the first sync: %v", s, inbox)
		}
	}
	for _, f := range []string{"Sent", "Drafts", "Junk", "Trash", "Archive"} {
		if fi, err := os.Stat(filepath.Join(local, "mail", f, "cur")); err != nil || !fi.IsDir() {
			t.Errorf("default folder %s was not synchronised: %v", f, err)
		}
	}

	// Local changes: "one" read, "two" deleted, a new folder with a message.
	seen := inbox["mbsync one"]
	name := filepath.Base(seen)
	if i := strings.Index(name, ":2,"); i >= 0 {
		name = name[:i]
	}
	if err := os.Rename(seen, filepath.Join(local, "inbox", "cur", name+":2,S")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(inbox["mbsync two"]); err != nil {
		t.Fatal(err)
	}
	projects := filepath.Join(local, "mail", "Projects")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(projects, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	note := "From: kate@example.test\r\nTo: kate@example.test\r\nSubject: Project plan\r\n" +
		"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <plan@example.test>\r\n\r\nStep one: sync.\r\n"
	if err := os.WriteFile(filepath.Join(projects, "new", "1700000000.P1Q1.localhost"), []byte(note), 0o600); err != nil {
		t.Fatal(err)
	}
	// A change on the server: "three" flagged.
	if out := python(t, "imap_state.py", ih, ip, "kate@example.test", "kate-pw", "flag", "INBOX", "mbsync three", `\Flagged`); !strings.Contains(out, "flagged") {
		t.Fatalf("could not flag on the server: %s", out)
	}

	mbsync(t, rc)

	state := imapState(t, in, "kate@example.test", "kate-pw")
	got := map[string]imapMessage{}
	for _, m := range state["INBOX"] {
		got[m.Subject] = m
	}
	if m, ok := got["mbsync one"]; !ok || !strings.Contains(m.Flags, `\Seen`) {
		t.Errorf("server INBOX: \"mbsync one\" not \\Seen: %+v", state["INBOX"])
	}
	if m, ok := got["mbsync two"]; ok {
		t.Errorf("server INBOX: \"mbsync two\" was deleted locally but is still there: %+v", m)
	}
	if len(state["INBOX"]) != 2 {
		t.Errorf("server INBOX should hold exactly 2 messages: %+v", state["INBOX"])
	}
	if msgs, ok := state["Projects"]; !ok || len(msgs) != 1 || msgs[0].Subject != "Project plan" {
		var names []string
		for n := range state {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Errorf("server lacks folder Projects with the local message: folders %v, Projects %+v", names, msgs)
	}
	three := localMessages(t, filepath.Join(local, "inbox"))["mbsync three"]
	if i := strings.Index(three, ":2,"); i < 0 || !strings.Contains(three[i:], "F") {
		t.Errorf("server flag did not reach the local copy: %q", three)
	}

	// A third run finds nothing to do and changes nothing.
	mbsync(t, rc)
	if again := imapState(t, in, "kate@example.test", "kate-pw"); fmt.Sprint(again) != fmt.Sprint(state) {
		t.Errorf("an idle sync changed the server:\nbefore %v\nafter  %v", state, again)
	}
}
