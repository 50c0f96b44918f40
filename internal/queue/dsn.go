package queue

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// DSN actions (RFC 3464 §2.3.3).
const (
	actionFailed    = "failed"
	actionDelayed   = "delayed"
	actionDelivered = "delivered"
	actionRelayed   = "relayed"
)

// maxFieldLen bounds one DSN field value (RFC 5322 §2.1.1 caps lines at
// 998 octets).
const maxFieldLen = 900

// dsnRecipient is one per-recipient block of a DSN (RFC 3464 §2.3).
type dsnRecipient struct {
	Address string
	// ORcpt is the RCPT ORCPT parameter as given ("rfc822;a@b", xtext).
	ORcpt          string
	Action         string
	Status         string // x.y.z
	RemoteMTA      string // host name, "" = unknown
	Diagnostic     string // the SMTP reply ("550 5.1.1 No such user"), "" = none
	LastAttempt    time.Time
	WillRetryUntil time.Time // for Action delayed
}

// dsnParams is everything a DSN message is built from.
type dsnParams struct {
	Hostname   string // Reporting-MTA and MAILER-DAEMON@ domain
	To         string // the original envelope sender
	EnvID      string // ENVID as given (xtext)
	Arrival    time.Time
	Date       time.Time
	MessageID  string // without angle brackets
	Boundary   string
	Recipients []dsnRecipient
	// Original is the returned message: its header section, or all of it
	// when Full (RET=FULL, RFC 3461 §4.3).
	Original []byte
	Full     bool
}

// dsnDate formats a date for a header or DSN field (RFC 5322 §3.3).
func dsnDate(t time.Time) string { return t.Format("Mon, 02 Jan 2006 15:04:05 -0700") }

// buildDSN writes a delivery status notification: a multipart/report
// (RFC 6522) with report-type delivery-status, holding a human-readable
// explanation, the message/delivery-status part (RFC 3464 §2) and the
// returned message or its header (RFC 3462 text/rfc822-headers). When an
// address or the returned header is not ASCII, the internationalized types
// of RFC 6533 are used.
func buildDSN(p dsnParams) []byte {
	global := !isASCII(p.To) || !isASCII(string(p.Original))
	for _, r := range p.Recipients {
		if !isASCII(r.Address) || !isASCII(r.ORcpt) {
			global = true
		}
	}
	kind := actionDelivered
	for _, r := range p.Recipients {
		switch {
		case r.Action == actionFailed:
			kind = actionFailed
		case r.Action == actionDelayed && kind != actionFailed:
			kind = actionDelayed
		}
	}
	subject := "Successful Mail Delivery Report"
	switch kind {
	case actionFailed:
		subject = "Undelivered Mail Returned to Sender"
	case actionDelayed:
		subject = "Delayed Mail (still being retried)"
	}

	var b bytes.Buffer
	hdr := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	hdr("From", "Mail Delivery System <MAILER-DAEMON@"+p.Hostname+">")
	hdr("To", "<"+clean(p.To)+">")
	hdr("Subject", subject)
	hdr("Date", dsnDate(p.Date))
	hdr("Message-ID", "<"+p.MessageID+">")
	hdr("Auto-Submitted", "auto-replied") // RFC 3834 §5
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/report; report-type=delivery-status; boundary="`+p.Boundary+`"`)
	b.WriteString("\r\n")
	b.WriteString("This is a MIME-encapsulated delivery status notification.\r\n")

	// Part 1: for people.
	fmt.Fprintf(&b, "\r\n--%s\r\n", p.Boundary)
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n")
	b.WriteString("Content-Description: Notification\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(humanText(p, kind)))
	qp.Close()
	b.WriteString("\r\n")

	// Part 2: for programs (RFC 3464 §2.2, §2.3).
	fmt.Fprintf(&b, "\r\n--%s\r\n", p.Boundary)
	if global {
		b.WriteString("Content-Type: message/global-delivery-status\r\n")
	} else {
		b.WriteString("Content-Type: message/delivery-status\r\n")
	}
	b.WriteString("Content-Description: Delivery report\r\n\r\n")
	field := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, clean(value)) }
	field("Reporting-MTA", "dns; "+p.Hostname)
	if p.EnvID != "" {
		field("Original-Envelope-Id", p.EnvID)
	}
	field("Arrival-Date", dsnDate(p.Arrival))
	for _, r := range p.Recipients {
		b.WriteString("\r\n")
		if r.ORcpt != "" {
			if typ, addr, ok := strings.Cut(r.ORcpt, ";"); ok {
				field("Original-Recipient", strings.TrimSpace(typ)+"; "+strings.TrimSpace(addr))
			}
		}
		field("Final-Recipient", addressType(r.Address)+"; "+r.Address)
		field("Action", r.Action)
		field("Status", r.Status)
		if r.RemoteMTA != "" {
			field("Remote-MTA", "dns; "+r.RemoteMTA)
		}
		if r.Diagnostic != "" {
			field("Diagnostic-Code", "smtp; "+r.Diagnostic)
		}
		if !r.LastAttempt.IsZero() {
			field("Last-Attempt-Date", dsnDate(r.LastAttempt))
		}
		if !r.WillRetryUntil.IsZero() {
			field("Will-Retry-Until", dsnDate(r.WillRetryUntil))
		}
	}

	// Part 3: the message or its header.
	fmt.Fprintf(&b, "\r\n--%s\r\n", p.Boundary)
	switch {
	case p.Full && global:
		b.WriteString("Content-Type: message/global\r\n")
	case p.Full:
		b.WriteString("Content-Type: message/rfc822\r\n")
	case global:
		b.WriteString("Content-Type: message/global-headers\r\n")
	default:
		b.WriteString("Content-Type: text/rfc822-headers\r\n")
	}
	if p.Full {
		b.WriteString("Content-Description: Undelivered message\r\n\r\n")
	} else {
		b.WriteString("Content-Description: Undelivered message header\r\n\r\n")
	}
	b.Write(p.Original)
	if len(p.Original) > 0 && p.Original[len(p.Original)-1] != '\n' {
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "\r\n--%s--\r\n", p.Boundary)
	return b.Bytes()
}

// humanText is the explanation for the sender.
func humanText(p dsnParams, kind string) string {
	var t strings.Builder
	fmt.Fprintf(&t, "This is the mail system at %s.\r\n\r\n", p.Hostname)
	switch kind {
	case actionFailed:
		t.WriteString("Your message could not be delivered to some or all of its recipients.\r\n")
		t.WriteString("This is a permanent error; the mail system has given up.\r\n")
	case actionDelayed:
		t.WriteString("Your message has not been delivered yet to the recipients below.\r\n")
		t.WriteString("The mail system will keep trying; you do not need to send it again.\r\n")
	default:
		t.WriteString("Your message was delivered to the recipients below, as you asked to be told.\r\n")
	}
	t.WriteString("\r\n")
	for _, r := range p.Recipients {
		fmt.Fprintf(&t, "<%s>: %s", clean(r.Address), r.Action)
		if r.Diagnostic != "" {
			fmt.Fprintf(&t, ": %s", clean(r.Diagnostic))
		}
		if r.RemoteMTA != "" {
			fmt.Fprintf(&t, " (from %s)", clean(r.RemoteMTA))
		}
		if !r.WillRetryUntil.IsZero() {
			fmt.Fprintf(&t, "; retrying until %s", dsnDate(r.WillRetryUntil))
		}
		t.WriteString("\r\n")
	}
	return t.String()
}

// addressType is the address-type of a Final-Recipient: "rfc822", or
// "utf-8" for an internationalized address (RFC 6533 §3).
func addressType(addr string) string {
	if isASCII(addr) {
		return "rfc822"
	}
	return "utf-8"
}

// clean makes s safe as one header line: control characters (CR and LF
// included) become spaces, invalid UTF-8 is replaced and the length is
// bounded.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxFieldLen {
		cut := maxFieldLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return strings.TrimSpace(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// redactDSN removes the third part, the returned message or header
// section, from a DSN buildDSN wrote, leaving the notification and the
// delivery-status parts (RFC 6522 §3 lets a report end after them).
func redactDSN(content []byte) ([]byte, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(content))
	if err != nil {
		return nil, err
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return nil, fmt.Errorf("queue: DSN without a boundary (%v)", err)
	}
	delim := []byte("\r\n--" + params["boundary"] + "\r\n")
	if bytes.Count(content, delim) != 3 {
		return nil, errors.New("queue: DSN has not three parts")
	}
	out := slices.Clip(content[:bytes.LastIndex(content, delim)])
	return append(out, "\r\n--"+params["boundary"]+"--\r\n"...), nil
}
