package managesieve

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pochta/internal/envelope"
	"pochta/internal/mda"
)

// sieveConnect runs the real sieve-connect client (Debian package
// sieve-connect) against the test server, over STARTTLS with the
// server's self-signed certificate.
func sieveConnect(t *testing.T, addr string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("sieve-connect")
	if err != nil {
		t.Fatalf("sieve-connect is not installed (apt-get install sieve-connect): %v", err)
	}
	host, port, _ := net.SplitHostPort(addr)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(pw, testPass+"\n")
	pw.Close()
	defer pr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--server", host, "--port", port, "--user", testUser,
		"--passwordfd", "3", "--notlsverify", "--authmech", "PLAIN", "--4"}, args...)...)
	cmd.ExtraFiles = []*os.File{pr}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sieve-connect %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestSieveConnect(t *testing.T) {
	e := start(t, false) // passwords only over TLS: sieve-connect must use STARTTLS
	dir := t.TempDir()
	script := "require [\"fileinto\", \"imap4flags\"];\nif header :contains \"subject\" \"invoice\" {\n  fileinto :flags \"\\\\Flagged\" \"Invoices\";\n}\n"
	local := filepath.Join(dir, "rules.sieve")
	if err := os.WriteFile(local, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	sieveConnect(t, e.addr, "--upload", "--localsieve", local, "--remotesieve", "rules")
	sieveConnect(t, e.addr, "--activate", "--remotesieve", "rules")
	list := sieveConnect(t, e.addr, "--list")
	if !strings.Contains(list, `"rules" ACTIVE`) {
		t.Fatalf("--list output:\n%s", list)
	}
	back := filepath.Join(dir, "back.sieve")
	sieveConnect(t, e.addr, "--download", "--remotesieve", "rules", "--localsieve", back)
	got, err := os.ReadFile(back)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ReplaceAll(string(got), "\r\n", "\n") != script {
		t.Fatalf("downloaded script differs:\n%q\nwant\n%q", got, script)
	}

	// The uploaded script now files the account's mail.
	d := mda.New(e.st, e.st, nil, nil)
	d.SetSieve(e.st)
	env := envelope.Envelope{From: "shop@remote.test", Recipients: []envelope.Recipient{{Address: testUser}}, ID: "sc1"}
	msg := "From: shop@remote.test\r\nTo: " + testUser + "\r\nSubject: Your invoice 42\r\n\r\nPay.\r\n"
	for _, err := range d.Deliver(context.Background(), env, []byte(msg)) {
		if err != nil {
			t.Fatal(err)
		}
	}
	mb, err := e.st.GetMailbox(context.Background(), e.acct.ID, "Invoices")
	if err != nil {
		t.Fatalf("Invoices folder: %v", err)
	}
	st, err := e.st.Status(context.Background(), mb.ID)
	if err != nil || st.Messages != 1 {
		t.Fatalf("Invoices has %d messages (%v), want 1", st.Messages, err)
	}
}
