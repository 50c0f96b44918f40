package app

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"pochta/internal/config"
)

// revokeDeadline bounds how long a revoked session may last (the
// Watcher reads the store every second).
const revokeDeadline = 15 * time.Second

// TestDisableEndsOpenSessions: `pochta user disable` (manage.SetDisabled)
// ends the account's open sessions on every protocol — IMAP (go-imap v2:
// BYE and close), POP3 (Python's poplib: -ERR and close), ManageSieve
// (BYE and close), the JMAP event source (the stream ends) — and a
// password change (manage.SetPassword) ends IMAP sessions too, while
// another account's session goes on.
func TestDisableEndsOpenSessions(t *testing.T) {
	a := startAppWith(t, "kate@example.test", func(c *config.Config) { c.Listen.ManageSieve = []string{"127.0.0.1:0"} })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := a.Manager().AddAccount(ctx, "bob@example.test", "pw", false); err != nil {
		t.Fatal(err)
	}
	imapAs := func(user string) *imapclient.Client {
		t.Helper()
		c, err := imapclient.DialInsecure(a.Addrs()["imap"][0], nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Login(user, "pw").Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	imapKate, imapBob := imapAs("kate@example.test"), imapAs("bob@example.test")

	// POP3 through Python's poplib: it logs in, says "ready", then prints
	// what the server sends unasked until the connection closes.
	py := exec.CommandContext(ctx, "python3", "-c", `
import poplib, sys
host, port = sys.argv[1].rsplit(":", 1)
p = poplib.POP3(host, int(port), timeout=30)
p.user("kate@example.test"); p.pass_("pw")
print("ready", flush=True)
while True:
    line = p.file.readline()
    if not line:
        print("EOF", flush=True)
        break
    print(line.decode().rstrip(), flush=True)
`, a.Addrs()["pop3"][0])
	pyOut, err := py.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var pyErr strings.Builder
	py.Stderr = &pyErr
	if err := py.Start(); err != nil {
		t.Fatalf("python3: %v", err)
	}
	defer py.Wait()
	pop := bufio.NewReader(pyOut)
	if l, err := pop.ReadString('\n'); l != "ready\n" {
		t.Fatalf("poplib: %q %v\n%s", l, err, pyErr.String())
	}

	// ManageSieve, raw.
	sieve, err := net.Dial("tcp", a.Addrs()["managesieve"][0])
	if err != nil {
		t.Fatal(err)
	}
	defer sieve.Close()
	sieve.SetDeadline(time.Now().Add(time.Minute))
	sr := bufio.NewReader(sieve)
	readSieve := func() string {
		t.Helper()
		var b strings.Builder
		for {
			l, err := sr.ReadString('\n')
			if err != nil {
				t.Fatalf("managesieve: %v (so far %q)", err, b.String())
			}
			b.WriteString(l)
			if strings.HasPrefix(l, "OK") || strings.HasPrefix(l, "NO") || strings.HasPrefix(l, "BYE") {
				return b.String()
			}
		}
	}
	readSieve()
	fmt.Fprintf(sieve, "AUTHENTICATE \"PLAIN\" \"%s\"\r\n", base64.StdEncoding.EncodeToString([]byte("\x00kate@example.test\x00pw")))
	if r := readSieve(); !strings.HasPrefix(r, "OK") {
		t.Fatalf("managesieve login: %q", r)
	}

	// The JMAP event source.
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+a.Addrs()["http"][0]+"/jmap/eventsource?types=*&closeafter=no&ping=0", nil)
	req.SetBasicAuth("kate@example.test", "pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	if l, err := events.ReadString('\n'); !strings.HasPrefix(l, "event: state") {
		t.Fatalf("event source: %q %v", l, err)
	}

	start := time.Now()
	if err := a.Manager().SetDisabled(ctx, "kate@example.test", true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-imapKate.Closed():
	case <-time.After(revokeDeadline):
		t.Fatal("the disabled account's IMAP session is still open")
	}
	t.Logf("IMAP session closed %v after the disable", time.Since(start))
	var popLines []string
	for {
		l, err := pop.ReadString('\n')
		if err != nil {
			t.Fatalf("poplib: %v after %q\n%s", err, popLines, pyErr.String())
		}
		if l = strings.TrimSpace(l); l == "EOF" {
			break
		}
		popLines = append(popLines, l)
	}
	if len(popLines) != 1 || !strings.HasPrefix(popLines[0], "-ERR [AUTH] Access revoked") {
		t.Fatalf("POP3 session's last words: %q", popLines)
	}
	if r := readSieve(); !strings.HasPrefix(r, `BYE "Access revoked`) {
		t.Fatalf("ManageSieve: %q", r)
	}
	if b, err := sr.ReadByte(); err != io.EOF {
		t.Fatalf("ManageSieve not closed after BYE: %q %v", b, err)
	}
	streamEnded := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, events); streamEnded <- err }()
	select {
	case err := <-streamEnded:
		if err != nil {
			t.Fatalf("event source: %v, want its end", err)
		}
	case <-time.After(revokeDeadline):
		t.Fatal("the disabled account's event source is still open")
	}
	if err := imapBob.Noop().Wait(); err != nil {
		t.Fatalf("another account's IMAP session: %v", err)
	}

	// A new password ends the sessions logged in with the old one.
	if err := a.Manager().SetDisabled(ctx, "kate@example.test", false); err != nil {
		t.Fatal(err)
	}
	imapKate = imapAs("kate@example.test")
	if _, err := a.Manager().SetPassword(ctx, "kate@example.test", "new password"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-imapKate.Closed():
	case <-time.After(revokeDeadline):
		t.Fatal("an IMAP session logged in with the old password is still open")
	}
	if err := imapBob.Noop().Wait(); err != nil {
		t.Fatalf("another account's IMAP session: %v", err)
	}
}
