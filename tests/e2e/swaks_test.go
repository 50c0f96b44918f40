package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"pochta/internal/dnstest"
)

// needTool returns the path of an external program the tests drive, and
// fails (never skips) when it is missing: .ci/run installs it.
func needTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatalf("%s is not installed: run .ci/run, which installs the Debian packages postfix, isync, swaks and dovecot-imapd", name)
	return ""
}

// swaks runs swaks with args (bounded to 30 s) and returns its whole
// transcript and exit code.
func swaks(t testing.TB, args ...string) (string, int) {
	t.Helper()
	bin := needTool(t, "swaks")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--timeout", "20"}, args...)...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("swaks %v timed out:\n%s", args, out)
	}
	if strings.Contains(string(out), "requires Net::SSLeay") {
		t.Fatalf("swaks cannot do TLS without Perl's Net::SSLeay: run .ci/run, which installs libnet-ssleay-perl\n%s", out)
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("swaks %v: %v", args, err)
		return "", -1
	}
}

// TestSwaks drives pochta with swaks, an SMTP test tool nobody here wrote:
// MX delivery with and without STARTTLS, submission with AUTH over
// STARTTLS and implicit TLS, a wrong password, a missing AUTH and an
// unauthenticated relay attempt. Exit codes are swaks' documented ones
// (0 ok, 23 MAIL refused, 24 no RCPT accepted, 28 AUTH failed).
func TestSwaks(t *testing.T) {
	dns := dnstest.Start(t, dnstest.Zone{
		"example.test":    {MX: []dnstest.MX{{Host: "mx.example.test", Pref: 10}}},
		"mx.example.test": {A: []string{"127.0.0.1"}},
		"127.0.0.1":       {PTR: []string{"mx.example.test"}},
	})
	in := newInstance(t, instanceOptions{Hostname: "mx.example.test", DNS: dns.Addr()})
	in.addUser("kate@example.test", "kate-pw")
	in.start()

	type run struct {
		name     string
		subject  string
		args     []string
		code     int
		want     []string // in the swaks transcript
		received string   // the delivered copy's Received "with" protocol
	}
	common := func(service, subject string) []string {
		return []string{"--server", in.addr[service], "--helo", "client.example.test",
			"--header", "Subject: " + subject, "--body", "Sent by swaks.\n.\nAfter a lone dot.\n"}
	}
	runs := []run{
		{name: "MX delivery", subject: "swaks plain",
			args: append(common("smtp", "swaks plain"), "--from", "john@remote.test", "--to", "kate@example.test"),
			want: []string{"<-  220 ", "<-  250 ", "<-  354 "}, received: "with ESMTP id"},
		{name: "MX delivery over STARTTLS", subject: "swaks starttls",
			args: append(common("smtp", "swaks starttls"), "--tls", "--from", "john@remote.test", "--to", "kate@example.test"),
			want: []string{"<-  220 ", " -> STARTTLS", "<~  250 "}, received: "with ESMTPS id"},
		{name: "submission STARTTLS AUTH PLAIN", subject: "swaks submission",
			args: append(common("submission", "swaks submission"), "--tls", "--auth", "PLAIN",
				"--auth-user", "kate@example.test", "--auth-password", "kate-pw",
				"--from", "kate@example.test", "--to", "kate@example.test"),
			want: []string{" -> STARTTLS", " ~> AUTH PLAIN", "<~  235 "}, received: "with ESMTPSA id"},
		{name: "submissions implicit TLS AUTH LOGIN", subject: "swaks submissions",
			args: append(common("submissions", "swaks submissions"), "--tlsc", "--auth", "LOGIN",
				"--auth-user", "kate@example.test", "--auth-password", "kate-pw",
				"--from", "kate@example.test", "--to", "kate@example.test"),
			want: []string{" ~> AUTH LOGIN", "<~  235 "}, received: "with ESMTPSA id"},
		{name: "pipelined, one recipient refused", subject: "swaks pipelined",
			args: append(common("smtp", "swaks pipelined"), "--pipeline", "--from", "john@remote.test",
				"--to", "nobody@example.test,kate@example.test"),
			want: []string{"<** 550 5.1.1", "<-  250 2.1.5", "<-  354 "}, received: "with ESMTP id"},
		{name: "wrong password",
			args: append(common("submission", "never sent"), "--tls", "--auth", "PLAIN",
				"--auth-user", "kate@example.test", "--auth-password", "not-kate-pw",
				"--from", "kate@example.test", "--to", "kate@example.test"),
			code: 28, want: []string{"<~* 535 "}},
		{name: "unknown user password",
			args: append(common("submission", "never sent"), "--tls", "--auth", "LOGIN",
				"--auth-user", "nobody@example.test", "--auth-password", "kate-pw",
				"--from", "kate@example.test", "--to", "kate@example.test"),
			code: 28, want: []string{"<~* 535 "}},
		{name: "relay attempt on port 25",
			args: append(common("smtp", "never sent"), "--from", "john@remote.test", "--to", "victim@elsewhere.test"),
			code: 24, want: []string{"<** 550 5.7.1"}},
		{name: "unknown local user on port 25",
			args: append(common("smtp", "never sent"), "--from", "john@remote.test", "--to", "nobody@example.test"),
			code: 24, want: []string{"<** 550 5.1.1"}},
	}
	for _, r := range runs {
		out, code := swaks(t, r.args...)
		if code != r.code {
			t.Errorf("%s: swaks exited %d, want %d:\n%s", r.name, code, r.code, out)
			continue
		}
		for _, w := range r.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: transcript lacks %q:\n%s", r.name, w, out)
			}
		}
		if r.received != "" {
			msg := waitMailbox(t, in, "kate@example.test", "kate-pw", "INBOX", "Subject: "+r.subject)
			for _, w := range []string{"Received: from client.example.test ([127.0.0.1])", r.received, "\n.\r\nAfter a lone dot."} {
				if !strings.Contains(msg, w) {
					t.Errorf("%s: delivered copy lacks %q:\n%s", r.name, w, msg)
				}
			}
		}
	}

	// Submission without AUTH must not accept mail (RFC 4954 §6: 530 5.7.0).
	out, code := swaks(t, append(common("submission", "never sent"), "--tls",
		"--from", "kate@example.test", "--to", "kate@example.test")...)
	if (code != 23 && code != 24) || !strings.Contains(out, " 530 5.7.0") {
		t.Errorf("submission without AUTH: exit %d:\n%s", code, out)
	}

	// Nothing that was refused got delivered.
	h, p := hostPort(t, in.addr["imap"])
	if box := python(t, "imap_fetch.py", h, p, "kate@example.test", "kate-pw", "INBOX"); strings.Contains(box, "never sent") {
		t.Errorf("a refused message was delivered:\n%s", box)
	}
}
