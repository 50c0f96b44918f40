package imapserver

import (
	"encoding/base64"
	"strings"
	"testing"

	"pochta/internal/scram/scramtest"
)

// TestGSASL: GNU SASL's client (libgsasl, a SCRAM written in C) logs in
// with AUTHENTICATE SCRAM-SHA-256 in plain text on loopback and with
// SCRAM-SHA-256-PLUS after STARTTLS, binding with tls-exporter on TLS 1.3
// and tls-unique on TLS 1.2; a wrong password is refused.
func TestGSASL(t *testing.T) {
	e, _ := scramEnv(t)
	base := []string{"--imap", "--connect", e.addr, "-a", e.other.Address, "--x509-ca-file="}
	for _, tc := range []struct {
		name, pass, binding string
		args                []string
	}{
		{"SCRAM-SHA-256", testPassword, "", []string{"-m", "SCRAM-SHA-256", "--no-starttls"}},
		{"-PLUS TLS 1.3", testPassword, "p=tls-export", []string{"-m", "SCRAM-SHA-256-PLUS", "--starttls"}},
		{"-PLUS TLS 1.2", testPassword, "p=tls-unique", []string{"-m", "SCRAM-SHA-256-PLUS", "--starttls", "--priority", "NORMAL:-VERS-TLS1.3"}},
		{"wrong password", "wrong", "", []string{"-m", "SCRAM-SHA-256-PLUS", "--starttls"}},
	} {
		out, err := scramtest.GSASL(t, append(append(base, "-p", tc.pass), tc.args...)...)
		if tc.pass != testPassword {
			if err == nil || !strings.Contains(out, "NO [AUTHENTICATIONFAILED]") {
				t.Fatalf("%s: %v\n%s", tc.name, err, out)
			}
			continue
		}
		if err != nil || !strings.Contains(out, "] Logged in") {
			t.Fatalf("%s: %v\n%s", tc.name, err, out)
		}
		if tc.binding != "" && !strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(tc.binding))) {
			t.Fatalf("%s: client-first without %s\n%s", tc.name, tc.binding, out)
		}
	}
}
