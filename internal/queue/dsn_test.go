package queue

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// parsedDSN is a DSN taken apart with go-message.
type parsedDSN struct {
	Header     message.Header
	ReportType string
	Text       string             // the human-readable part, decoded
	StatusType string             // message/delivery-status or the global type
	PerMessage textproto.Header   // Reporting-MTA, Arrival-Date, ...
	PerRcpt    []textproto.Header // one per recipient
	OrigType   string             // text/rfc822-headers or message/rfc822
	Orig       []byte             // the returned message or header
	Parts      int
}

// parseDSN checks the RFC 3464 / RFC 6522 structure of raw and returns its
// pieces; any structural problem fails the test.
func parseDSN(t testing.TB, raw []byte) parsedDSN {
	t.Helper()
	return parseDSNParts(t, raw, 3)
}

// parseDSNParts is parseDSN for a report of parts parts (2: redacted,
// without the returned header).
func parseDSNParts(t testing.TB, raw []byte, parts int) parsedDSN {
	t.Helper()
	var d parsedDSN
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("go-message cannot read the DSN: %v\n%s", err, raw)
	}
	d.Header = e.Header
	mt, params, err := e.Header.ContentType()
	if err != nil || mt != "multipart/report" {
		t.Fatalf("Content-Type = %q (%v), want multipart/report", mt, err)
	}
	d.ReportType = params["report-type"]
	mr := e.MultipartReader()
	if mr == nil {
		t.Fatal("DSN is not multipart")
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading part %d: %v", d.Parts+1, err)
		}
		d.Parts++
		pt, _, err := p.Header.ContentType()
		if err != nil {
			t.Fatalf("part %d Content-Type: %v", d.Parts, err)
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("part %d body: %v", d.Parts, err)
		}
		switch d.Parts {
		case 1:
			if pt != "text/plain" {
				t.Fatalf("part 1 is %s, want text/plain", pt)
			}
			d.Text = string(body)
		case 2:
			d.StatusType = pt
			br := bufio.NewReader(bytes.NewReader(body))
			d.PerMessage, err = textproto.ReadHeader(br)
			if err != nil {
				t.Fatalf("per-message fields: %v\n%s", err, body)
			}
			for {
				if _, err := br.Peek(1); err == io.EOF {
					break
				}
				h, err := textproto.ReadHeader(br)
				if err != nil {
					t.Fatalf("per-recipient fields: %v\n%s", err, body)
				}
				if h.Len() > 0 {
					d.PerRcpt = append(d.PerRcpt, h)
				}
			}
		case 3:
			d.OrigType = pt
			d.Orig = body
		default:
			t.Fatalf("unexpected part %d (%s)", d.Parts, pt)
		}
	}
	if d.Parts != parts {
		t.Fatalf("DSN has %d parts, want %d", d.Parts, parts)
	}
	return d
}

var testOriginal = []byte("From: Alice <alice@local.test>\r\nTo: bob@remote.test\r\nSubject: Hello\r\nMessage-ID: <m1@local.test>\r\n\r\nThe body line.\r\n")

func goldenParams() dsnParams {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	return dsnParams{
		Hostname:  "mx.local.test",
		To:        "alice@local.test",
		EnvID:     "QQ314159+x",
		Arrival:   at,
		Date:      at.Add(2 * time.Hour),
		MessageID: "00000000000000000000abcd.dsn@mx.local.test",
		Boundary:  "=_dsn_fixed",
		Recipients: []dsnRecipient{{
			Address:     "bob@remote.test",
			ORcpt:       "rfc822;Bob+old@remote.test",
			Action:      actionFailed,
			Status:      "5.1.1",
			RemoteMTA:   "mx.remote.test",
			Diagnostic:  "550 5.1.1 No such user",
			LastAttempt: at.Add(time.Hour),
		}, {
			Address:        "carol@remote.test",
			Action:         actionDelayed,
			Status:         "4.4.7",
			Diagnostic:     "421 4.4.2 Connection dropped",
			LastAttempt:    at.Add(time.Hour),
			WillRetryUntil: at.Add(120 * time.Hour),
		}},
		Original: headerOf(testOriginal),
	}
}

func TestDSNGolden(t *testing.T) {
	got := buildDSN(goldenParams())
	path := filepath.Join("testdata", "dsn-failed.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("DSN differs from %s (run with -update after checking):\n%s", path, got)
	}

	d := parseDSN(t, got)
	checks := map[string]string{
		"From":           "Mail Delivery System <MAILER-DAEMON@mx.local.test>",
		"To":             "<alice@local.test>",
		"Auto-Submitted": "auto-replied",
		"Subject":        "Undelivered Mail Returned to Sender",
	}
	for k, v := range checks {
		if got := d.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if d.ReportType != "delivery-status" || d.StatusType != "message/delivery-status" {
		t.Errorf("report-type %q, status part %q", d.ReportType, d.StatusType)
	}
	if got := d.PerMessage.Get("Reporting-MTA"); got != "dns; mx.local.test" {
		t.Errorf("Reporting-MTA = %q", got)
	}
	if got := d.PerMessage.Get("Original-Envelope-Id"); got != "QQ314159+x" {
		t.Errorf("Original-Envelope-Id = %q (xtext must be decoded)", got)
	}
	if got := d.PerMessage.Get("Arrival-Date"); got != "Sun, 22 Nov 2026 10:00:00 +0000" {
		t.Errorf("Arrival-Date = %q", got)
	}
	if len(d.PerRcpt) != 2 {
		t.Fatalf("%d recipient blocks, want 2", len(d.PerRcpt))
	}
	r := d.PerRcpt[0]
	for k, v := range map[string]string{
		"Final-Recipient":    "rfc822; bob@remote.test",
		"Original-Recipient": "rfc822; Bob+old@remote.test",
		"Action":             "failed",
		"Status":             "5.1.1",
		"Remote-MTA":         "dns; mx.remote.test",
		"Diagnostic-Code":    "smtp; 550 5.1.1 No such user",
		"Last-Attempt-Date":  "Sun, 22 Nov 2026 11:00:00 +0000",
	} {
		if got := r.Get(k); got != v {
			t.Errorf("recipient 1 %s = %q, want %q", k, got, v)
		}
	}
	if got := d.PerRcpt[1].Get("Will-Retry-Until"); got != "Fri, 27 Nov 2026 10:00:00 +0000" {
		t.Errorf("Will-Retry-Until = %q", got)
	}
	if d.PerRcpt[1].Has("Original-Recipient") || d.PerRcpt[1].Has("Remote-MTA") {
		t.Error("recipient 2 has fields it was not given")
	}
	if d.OrigType != "text/rfc822-headers" || !bytes.Contains(d.Orig, []byte("Subject: Hello")) || bytes.Contains(d.Orig, []byte("body line")) {
		t.Errorf("returned part %s:\n%s", d.OrigType, d.Orig)
	}
	if !strings.Contains(d.Text, "<bob@remote.test>: failed: 550 5.1.1 No such user (from mx.remote.test)") {
		t.Errorf("human text:\n%s", d.Text)
	}
}

func TestDSNFullAndGlobal(t *testing.T) {
	p := goldenParams()
	p.Full = true
	p.Original = testOriginal
	d := parseDSN(t, buildDSN(p))
	if d.OrigType != "message/rfc822" || !bytes.Contains(d.Orig, []byte("The body line.")) {
		t.Errorf("RET=FULL part %s:\n%s", d.OrigType, d.Orig)
	}

	p = goldenParams()
	p.Recipients[0].Address = "бob@пример.test"
	d = parseDSN(t, buildDSN(p))
	if d.StatusType != "message/global-delivery-status" || d.OrigType != "message/global-headers" {
		t.Errorf("internationalized DSN uses %s / %s", d.StatusType, d.OrigType)
	}
	if got := d.PerRcpt[0].Get("Final-Recipient"); got != "utf-8; бob@пример.test" {
		t.Errorf("Final-Recipient = %q", got)
	}
}

// FuzzDSN feeds network-supplied values (ENVID, ORCPT, recipient address,
// the remote reply text, the returned header) into a DSN and checks that
// the result always parses and that no value can inject fields or parts.
func FuzzDSN(f *testing.F) {
	f.Add("QQ314159", "rfc822;bob@remote.test", "bob@remote.test", "550 5.1.1 No such user", "Subject: x\r\n\r\n")
	f.Add("a+0D+0AStatus: 2.0.0", "rfc822;x+0D+0AAction: delivered", "e\r\nAction: delivered", "550 ok\r\n\r\n--=_dsn_fixed--", "")
	f.Add("", "garbage-without-type", "\xff\xfe@x", "\x00\x7f", "no header end")
	f.Fuzz(func(t *testing.T, envid, orcpt, addr, diag, orig string) {
		p := goldenParams()
		p.EnvID = envid
		p.Recipients[0].ORcpt = orcpt
		p.Recipients[0].Address = addr
		p.Recipients[0].Diagnostic = diag
		p.Original = []byte(orig)
		raw := buildDSN(p)
		if strings.Contains(orig, p.Boundary) {
			return // the boundary is random in real DSNs
		}
		d := parseDSN(t, raw)
		if len(d.PerRcpt) != 2 {
			t.Fatalf("%d recipient blocks, want 2", len(d.PerRcpt))
		}
		if got := d.PerRcpt[0].Values("Action"); len(got) != 1 || got[0] != "failed" {
			t.Fatalf("Action fields %q", got)
		}
		if d.PerMessage.Has("Action") || d.PerMessage.Has("Status") {
			t.Fatal("a value injected a field into the per-message block")
		}
	})
}
