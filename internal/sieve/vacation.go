package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"

	"pochta/internal/message"
)

func defaultHandle(v *Vacation) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%q %q %q %v", v.Reason, v.Subject, v.From, v.MIME)))
	return hex.EncodeToString(h[:8])
}

// VacationAllowed decides whether an auto-reply may be sent for a message
// (RFC 5230 §4.5–4.6, RFC 3834 §2): never to the null sender or to
// automated senders (MAILER-DAEMON, owner-, -request), never to mailing
// lists and bulk mail (List-*, Precedence bulk/list/junk), never to
// automatically submitted mail (Auto-Submitted other than "no"), never to
// mail our spam filter marked (X-Spam: Yes), never to one of our own
// addresses, and only when one of our addresses is in a
// recipient header (To, Cc, Bcc, Resent-*). own are the recipient's
// addresses (the envelope recipient, the account, :addresses). The reason
// is for the log.
func VacationAllowed(sender string, content []byte, own []string) (bool, string) {
	if sender == "" {
		return false, "null sender"
	}
	s := strings.ToLower(sender)
	lp := s
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		lp = s[:at]
	}
	switch {
	case lp == "mailer-daemon" || lp == "postmaster" || lp == "listserv" || lp == "majordomo" ||
		strings.HasPrefix(lp, "owner-") || strings.HasSuffix(lp, "-request") || strings.HasPrefix(lp, "bounce"):
		return false, "automated sender"
	}
	for _, o := range own {
		if strings.EqualFold(o, sender) {
			return false, "sender is the recipient"
		}
	}
	m := message.Parse(content)
	for _, v := range m.HeaderValues("X-Spam") { // our spam filter's mark: no backscatter
		if strings.EqualFold(strings.TrimSpace(v), "yes") {
			return false, "marked as spam"
		}
	}
	for _, h := range []string{"List-Id", "List-Post", "List-Unsubscribe", "List-Help", "List-Subscribe", "List-Owner", "List-Archive", "X-List"} {
		if len(m.HeaderValues(h)) > 0 {
			return false, "mailing list (" + h + ")"
		}
	}
	for _, v := range m.HeaderValues("Precedence") {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "bulk", "list", "junk":
			return false, "Precedence: " + v
		}
	}
	for _, v := range m.HeaderValues("Auto-Submitted") {
		if f := strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0])); f != "no" {
			return false, "Auto-Submitted: " + v
		}
	}
	for _, h := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, v := range m.HeaderValues(h) {
			for _, a := range addresses(v) {
				for _, o := range own {
					if strings.EqualFold(a, o) {
						return true, ""
					}
				}
			}
		}
	}
	return false, "none of our addresses in the recipient headers"
}

// Reply builds the auto-reply (RFC 5230 §5) to a message: From from (the
// recipient, or :from once the caller checked it is the user's), To the
// sender, Subject from :subject or "Auto: "
// and the original subject, In-Reply-To/References, Auto-Submitted:
// auto-replied. With :mime the reason is a complete MIME entity.
func (v *Vacation) Reply(content []byte, sender, from, hostname string, now time.Time) []byte {
	m := message.Parse(content)
	subject := v.Subject
	if subject == "" {
		subject = "Auto: " + m.Subject()
	}
	var b strings.Builder
	hdr := func(k, val string) { fmt.Fprintf(&b, "%s: %s\r\n", k, val) }
	hdr("From", (&mail.Address{Address: from}).String())
	hdr("To", (&mail.Address{Address: sender}).String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", strings.ReplaceAll(strings.ReplaceAll(subject, "\r", ""), "\n", "")))
	hdr("Date", now.Format(time.RFC1123Z))
	sum := sha256.Sum256([]byte(fmt.Sprint(now.UnixNano(), sender, from)))
	hdr("Message-ID", "<vacation."+hex.EncodeToString(sum[:8])+"@"+hostname+">")
	if id := m.MessageID(); id != "" {
		hdr("In-Reply-To", "<"+id+">")
		refs := append(m.References(), id)
		hdr("References", "<"+strings.Join(refs, "> <")+">")
	}
	hdr("Auto-Submitted", "auto-replied (vacation)")
	hdr("Precedence", "bulk")
	hdr("MIME-Version", "1.0")
	reason := crlf(v.Reason)
	if v.MIME {
		b.WriteString(reason)
		return []byte(b.String())
	}
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(reason)
	if !strings.HasSuffix(reason, "\r\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}
