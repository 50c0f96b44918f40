package sieve

import (
	"strings"
	"testing"
	"time"
)

func TestVacationAllowed(t *testing.T) {
	own := []string{"bob@example.com"}
	base := "From: alice@example.org\r\nTo: Bob <bob@example.com>\r\nSubject: hi\r\nMessage-ID: <x1@example.org>\r\n\r\nbody\r\n"
	cases := []struct {
		name, sender, msg string
		want              bool
	}{
		{"plain", "alice@example.org", base, true},
		{"null sender", "", base, false},
		{"mailer-daemon", "MAILER-DAEMON@example.org", base, false},
		{"owner-", "owner-list@example.org", base, false},
		{"-request", "list-request@example.org", base, false},
		{"to ourselves", "bob@example.com", base, false},
		{"list-id", "alice@example.org", "List-Id: <a.b>\r\n" + base, false},
		{"list-unsubscribe", "alice@example.org", "List-Unsubscribe: <mailto:x@y>\r\n" + base, false},
		{"precedence bulk", "alice@example.org", "Precedence: bulk\r\n" + base, false},
		{"precedence list", "alice@example.org", "Precedence: List\r\n" + base, false},
		{"auto-submitted", "alice@example.org", "Auto-Submitted: auto-replied\r\n" + base, false},
		{"spam", "alice@example.org", "X-Spam: Yes\r\n" + base, false},
		{"auto-submitted no", "alice@example.org", "Auto-Submitted: no\r\n" + base, true},
		{"not addressed to us", "alice@example.org", strings.Replace(base, "bob@example.com", "other@example.com", 1), false},
		{"in cc", "alice@example.org", strings.Replace(base, "To: Bob <bob@example.com>", "To: x@y.example\r\nCc: BOB@example.com", 1), true},
	}
	for _, c := range cases {
		got, why := VacationAllowed(c.sender, []byte(c.msg), own)
		if got != c.want {
			t.Errorf("%s: VacationAllowed = %v (%s), want %v", c.name, got, why, c.want)
		}
	}
}

func TestVacationReply(t *testing.T) {
	v := &Vacation{Reason: "I am away until Monday.", Period: 24 * time.Hour}
	orig := []byte("From: alice@example.org\r\nTo: bob@example.com\r\nSubject: Lunch?\r\nMessage-ID: <x1@example.org>\r\nReferences: <x0@example.org>\r\n\r\nbody\r\n")
	out := string(v.Reply(orig, "alice@example.org", "bob@example.com", "mx.example.com", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
	for _, want := range []string{
		"From: <bob@example.com>\r\n", "To: <alice@example.org>\r\n", "Subject: Auto: Lunch?\r\n",
		"In-Reply-To: <x1@example.org>\r\n", "References: <x0@example.org> <x1@example.org>\r\n",
		"Auto-Submitted: auto-replied", "\r\n\r\nI am away until Monday.\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("reply lacks %q:\n%s", want, out)
		}
	}
}
