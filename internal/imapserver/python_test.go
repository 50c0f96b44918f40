package imapserver

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

// Python's imaplib runs a full flow (testdata/imaplib_flow.py).
func TestPythonImaplib(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 3; i++ {
		e.deliver("", testMessage(i, "python "+itoa(i)))
	}
	host, port, _ := net.SplitHostPort(e.addr)
	out, err := exec.Command("python3", "testdata/imaplib_flow.py", host, port, "alice@example.org", testPassword).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "imaplib flow OK") {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}
