package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestSieveJourney: a user uploads and activates a filter with the real
// sieve-connect client over ManageSieve (STARTTLS), mail arriving by SMTP
// is then filed or refused by it, the user sees the result over IMAP, and
// the admin CLI shows the script.
func TestSieveJourney(t *testing.T) {
	bin, err := exec.LookPath("sieve-connect")
	if err != nil {
		t.Fatalf("sieve-connect is not installed (apt-get install sieve-connect): %v", err)
	}
	in := newInstance(t, instanceOptions{})
	in.addUser("kate@example.test", "kate-pw")
	in.start()

	script := `require ["fileinto", "reject"];
if header :contains "subject" "invoice" { fileinto "Invoices"; }
elsif header :contains "subject" "offer" { reject "No offers, please."; }
`
	file := filepath.Join(t.TempDir(), "rules.sieve")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	h, p := hostPort(t, in.addr["managesieve"])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sieveConnect := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--server", h, "--port", p, "--user", "kate@example.test",
			"--passwordfd", "0", "--notlsverify", "--authmech", "PLAIN", "--4"}, args...)...)
		cmd.Stdin = strings.NewReader("kate-pw\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sieve-connect %v: %v\n%s", args, err, out)
		}
	}
	sieveConnect("--upload", "--localsieve", file, "--remotesieve", "rules")
	sieveConnect("--activate", "--remotesieve", "rules")
	if got := in.run("", "sieve list", "kate@example.test"); got != "rules\tactive\n" {
		t.Fatalf("pochta sieve list: %q", got)
	}

	sh, sp := hostPort(t, in.addr["smtp"])
	python(t, "smtp_send.py", sh, sp, "plain", "shop@remote.test", "kate@example.test", "Your invoice 42")
	python(t, "smtp_send.py", sh, sp, "plain", "john@remote.test", "kate@example.test", "hello")

	// The reject is the reply to DATA, with the script's reason.
	c, err := smtp.Dial(in.addr["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("spam@remote.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("kate@example.test"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: a great offer\r\n\r\nBuy now.\r\n")
	if err := w.Close(); err == nil || !strings.HasPrefix(err.Error(), "550 ") || !strings.Contains(err.Error(), "5.7.1 No offers, please.") {
		t.Fatalf("DATA of the rejected message: %v", err)
	}

	ic, err := imapclient.DialStartTLS(in.addr["imap"], &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("kate@example.test", "kate-pw").Wait(); err != nil {
		t.Fatal(err)
	}
	for mbox, want := range map[string]uint32{"Invoices": 1, "INBOX": 1} {
		st, err := ic.Status(mbox, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || st.NumMessages == nil || *st.NumMessages != want {
			t.Fatalf("STATUS %s: %v %+v, want %d messages", mbox, err, st, want)
		}
	}
}
