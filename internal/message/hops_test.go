package message

import (
	"strings"
	"testing"
)

func TestHops(t *testing.T) {
	received := strings.Repeat("Received: from a by b;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n", 3)
	for _, c := range []struct {
		name, msg string
		want      int
	}{
		{"none", "From: a@b\r\n\r\nbody\r\n", 0},
		{"three folded", received + "From: a@b\r\n\r\nReceived: in the body\r\n", 3},
		{"case and space before colon", "RECEIVED : x\r\nreceived:y\r\nReceived-SPF: pass\r\nX-Received: z\r\n\r\n", 2},
		{"bare LF", "Received: x\nReceived: y\n\nReceived: z\n", 2},
		{"no body", "Received: x\r\nReceived: y", 2},
		{"empty header", "\r\nReceived: x\r\n", 0},
		// A bounce quotes the looping message below its own header.
		{"quoted in a bounce", "From: MAILER-DAEMON@x\r\nContent-Type: multipart/report\r\n\r\n--b\r\n\r\n" + received, 0},
	} {
		if got := Hops([]byte(c.msg)); got != c.want {
			t.Errorf("%s: Hops = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestTrimTopFields(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Return-Path: <a@b>\r\nSubject: x\r\n\r\nb", "Subject: x\r\n\r\nb"},
		{"return-path: <a@b>\r\nReturn-Path:\r\n <c@d>\r\n\tmore\r\nSubject: x\r\n", "Subject: x\r\n"},
		{"Subject: x\r\nReturn-Path: <a@b>\r\n", "Subject: x\r\nReturn-Path: <a@b>\r\n"}, // only at the top
		{"Return-Pathology: x\r\n", "Return-Pathology: x\r\n"},
		{"Return-Path: <a@b>", ""},
	} {
		if got := string(TrimTopFields([]byte(c.in), "Return-Path")); got != c.want {
			t.Errorf("TrimTopFields(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
