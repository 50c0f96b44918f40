package smtpserver

import (
	"strings"
	"testing"

	"pochta/internal/scram/scramtest"
)

// TestGSASL: GNU SASL's client (libgsasl, a SCRAM written in C) logs in
// to submission with AUTH SCRAM-SHA-256 on loopback and
// SCRAM-SHA-256-PLUS after STARTTLS (TLS 1.3 and 1.2); a wrong password
// gets 535.
func TestGSASL(t *testing.T) {
	_, addr := scramServer(t, true)
	base := []string{"--smtp", "--connect", addr, "--hostname", "mx.test", "-a", "bob@example.com", "--x509-ca-file="}
	for _, tc := range []struct {
		name, pass string
		args       []string
	}{
		{"SCRAM-SHA-256", bobPass, []string{"-m", "SCRAM-SHA-256", "--no-starttls"}},
		{"-PLUS TLS 1.3", bobPass, []string{"-m", "SCRAM-SHA-256-PLUS", "--starttls"}},
		{"-PLUS TLS 1.2", bobPass, []string{"-m", "SCRAM-SHA-256-PLUS", "--starttls", "--priority", "NORMAL:-VERS-TLS1.3"}},
		{"wrong password", "wrong", []string{"-m", "SCRAM-SHA-256-PLUS", "--starttls"}},
	} {
		out, err := scramtest.GSASL(t, append(append(base, "-p", tc.pass), tc.args...)...)
		ok := err == nil && strings.Contains(out, "235 2.7.0")
		if ok != (tc.pass == bobPass) || (!ok && !strings.Contains(out, "535 5.7.8")) {
			t.Fatalf("%s: %v\n%s", tc.name, err, out)
		}
	}
}
