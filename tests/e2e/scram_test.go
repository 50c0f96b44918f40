package e2e

import (
	"strings"
	"testing"

	"pochta/internal/scram/scramtest"
)

// TestSCRAM: an account made with `pochta user add` has a SCRAM verifier
// from the start: GNU SASL's client (gsasl) logs in to the built binary
// with SCRAM-SHA-256-PLUS over IMAP and submission (STARTTLS, channel
// bound). After `pochta user passwd` the old password fails and the new
// one works.
func TestSCRAM(t *testing.T) {
	in := newInstance(t, instanceOptions{})
	in.addUser("kate@example.test", "kate-pw")
	in.start()
	login := func(proto, service, pass string) (string, error) {
		return scramtest.GSASL(t, "--"+proto, "--connect", in.addr[service], "--hostname", "mx.example.test",
			"-m", "SCRAM-SHA-256-PLUS", "-a", "kate@example.test", "-p", pass, "--x509-ca-file=", "--starttls")
	}
	for _, p := range [][2]string{{"imap", "imap"}, {"smtp", "submission"}} {
		if out, err := login(p[0], p[1], "kate-pw"); err != nil || !strings.Contains(out, "Logged in") && !strings.Contains(out, "235 ") {
			t.Fatalf("%s: %v\n%s", p[1], err, out)
		}
	}
	in.run("kate-new-pw\n", "user passwd", "--password-stdin", "kate@example.test")
	if out, err := login("imap", "imap", "kate-pw"); err == nil {
		t.Fatalf("old password still works after user passwd:\n%s", out)
	}
	if out, err := login("imap", "imap", "kate-new-pw"); err != nil || !strings.Contains(out, "Logged in") {
		t.Fatalf("new password: %v\n%s", err, out)
	}
}
