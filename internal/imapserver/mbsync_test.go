package imapserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mbsync (isync) mirrors the account into a Maildir and back: it drives
// UID FETCH, APPEND with LITERAL+, UID STORE and EXPUNGE the way it does
// against production servers.
func TestMbsync(t *testing.T) {
	bin, err := exec.LookPath("mbsync")
	if err != nil {
		t.Fatal("mbsync (package isync) is required for this test: ", err)
	}
	e := newEnv(t, envOptions{})
	for i := 1; i <= 3; i++ {
		e.deliver("", testMessage(i, "mbsync "+itoa(i)))
	}
	e.deliver("Archive", testMessage(4, "archived"))
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(e.addr)
	cfg := fmt.Sprintf(`IMAPAccount test
Host %s
Port %s
User alice@example.org
Pass "%s"
SSLType None
AuthMechs PLAIN

IMAPStore remote
Account test

MaildirStore local
Path %s/mail/
Inbox %s/mail/INBOX
SubFolders Verbatim

Channel c
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
Sync All
`, host, port, testPassword, dir, dir)
	if err := os.MkdirAll(filepath.Join(dir, "mail"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mbsyncrc"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() {
		t.Helper()
		cmd := exec.Command(bin, append(strings.Fields(os.Getenv("MBSYNC_FLAGS")), "-c", filepath.Join(dir, "mbsyncrc"), "c")...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
	}
	run()
	cur, _ := filepath.Glob(filepath.Join(dir, "mail", "INBOX", "*", "*"))
	if len(cur) != 3 {
		t.Fatalf("INBOX maildir has %d files", len(cur))
	}
	arch, _ := filepath.Glob(filepath.Join(dir, "mail", "Archive", "*", "*"))
	if len(arch) != 1 {
		t.Fatalf("Archive maildir has %d files", len(arch))
	}
	// A message added locally is uploaded; one deleted locally is expunged.
	newMsg := "From: local@example.org\r\nSubject: written locally\r\n\r\nhello\r\n"
	if err := os.WriteFile(filepath.Join(dir, "mail", "INBOX", "new", "1700000000.local.host"), []byte(newMsg), 0o600); err != nil {
		t.Fatal(err)
	}
	var victim string
	for _, f := range cur {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "mbsync 2") {
			victim = f
		}
	}
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	run()
	ctx := context.Background()
	inbox, err := e.st.GetMailbox(ctx, e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	hits, err := e.st.Search(ctx, inbox.ID, "subject", "written locally")
	if err != nil || len(hits) != 1 {
		t.Fatalf("uploaded message: %v %v", hits, err)
	}
	st, err := e.st.Status(ctx, inbox.ID)
	if err != nil || st.Messages != 3 {
		t.Fatalf("INBOX has %d messages (%v), want 3", st.Messages, err)
	}
}
