package smtpserver

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"pochta/internal/auth"
	"pochta/internal/spam"
)

const gtubeString = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// TestSpamVerdicts runs the real spam filter behind the inbound server:
// the verdict's headers go on top of the message (after Received), foreign
// X-Spam fields are removed, a reject stores nothing.
func TestSpamVerdicts(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	filter := spam.New(spam.Options{JunkScore: 3, RejectScore: 15})
	opts.Spam = filter
	addr := startServer(t, opts)

	// Clean: a score, no X-Spam, and the forged "X-Spam: Yes" is gone.
	clean := "From: Sender <sender@remote.example>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@remote.example>\r\n" +
		"X-Spam: Yes\r\nX-Spam-Score: -100.0\r\nSubject: Hello\r\n\r\nhello\r\n"
	deliverRaw(t, addr, "sender@remote.example", []string{"alice@example.com"}, clean, "250 2.0.0")
	// Junk: no Date, no Message-ID, no From, shouting subject = 3.5.
	junk := "X-Spam-Score: 0.0\r\nSubject: CHEAP WATCHES TODAY\r\n\r\nbuy\r\n"
	deliverRaw(t, addr, "sender@remote.example", []string{"alice@example.com"}, junk, "250 2.0.0")
	// GTUBE: refused after DATA, nothing stored.
	deliverRaw(t, addr, "sender@remote.example", []string{"alice@example.com"}, "Subject: t\r\n\r\n"+gtubeString+"\r\n", "550 5.7.1")

	// The default Sieve rule files the junk verdict into Junk.
	got := append(f.inbox("alice@example.com"), f.folder("alice@example.com", "Junk")...)
	if n := len(f.folder("alice@example.com", "Junk")); n != 1 {
		t.Fatalf("Junk has %d messages, want 1", n)
	}
	if len(got) != 2 {
		t.Fatalf("inbox has %d messages, want 2", len(got))
	}
	head := regexp.MustCompile(`^Return-Path: <sender@remote\.example>\r\nReceived: [^\r]*\r\n(\t[^\r]*\r\n)+`)
	for i, want := range []string{
		"X-Spam-Score: 0.0\r\nFrom: Sender <sender@remote.example>\r\nDate: ",
		"X-Spam-Score: 3.5 (FROM_INVALID=1.5 SUBJ_ALL_CAPS=1.0 MISSING_DATE=0.5\r\n\tMISSING_MID=0.5)\r\nX-Spam: Yes\r\nSubject: CHEAP WATCHES TODAY\r\n",
	} {
		loc := head.FindStringIndex(got[i])
		if loc == nil {
			t.Fatalf("message %d does not start with Return-Path and Received:\n%q", i, got[i])
		}
		rest := got[i][loc[1]:]
		if !strings.HasPrefix(rest, want) {
			t.Errorf("message %d after Received:\n%q\nwant prefix\n%q", i, rest, want)
		}
		if i == 0 && (strings.Contains(rest, "X-Spam: Yes") || strings.Contains(rest, "-100.0")) {
			t.Errorf("message %d keeps a foreign X-Spam field: %q", i, rest)
		}
		if n := strings.Count(rest, "X-Spam-Score:"); n != 1 {
			t.Errorf("message %d has %d X-Spam-Score fields: %q", i, n, rest)
		}
	}
	if st := filter.Stats(); st.Classified != 3 || st.Junked != 1 || st.Rejected != 1 {
		t.Errorf("filter stats %+v", st)
	}
}

// TestSpamSkippedForTrusted: a trusted network's mail is not judged (no
// score, GTUBE delivered), but foreign X-Spam fields still go.
func TestSpamSkippedForTrusted(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	opts.Spam = spam.New(spam.Options{})
	opts.TrustedNetworks = []netip.Prefix{loopback}
	addr := startServer(t, opts)
	deliverRaw(t, addr, "sender@remote.example", []string{"alice@example.com"}, "X-Spam: Yes\r\nSubject: t\r\n\r\n"+gtubeString+"\r\n", "250 2.0.0")
	got := f.inbox("alice@example.com")
	if len(got) != 1 || strings.Contains(got[0], "X-Spam") {
		t.Fatalf("inbox = %q", got)
	}
}

// TestSpamBayesThroughSMTP: once alice's filter is trained, spam sent to
// her through an alias is marked by her own counts (the MDA resolves the
// recipient), and ham is not.
func TestSpamBayesThroughSMTP(t *testing.T) {
	f := newFixture(t, auth.Options{})
	opts := f.options(ModeInbound)
	filter := spam.New(spam.Options{Store: f.st, Recipients: f.mda})
	opts.Spam = filter
	addr := startServer(t, opts)
	ctx := context.Background()
	alice, err := f.st.GetAccount(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	corpus := func(kind string, i int) string {
		b, err := os.ReadFile(filepath.Join("..", "spam", "testdata", "corpus", kind, fmt.Sprintf("%03d.eml", i)))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for i := 0; i < 20; i++ {
		for _, kind := range []string{"spam", "ham"} {
			if err := filter.Train(ctx, alice.ID, strings.NewReader(corpus(kind, i)), kind == "spam", false); err != nil {
				t.Fatal(err)
			}
		}
	}
	// fwd@ forwards to a remote address only: no local account judges it.
	for _, rcpts := range [][]string{{"fwd@example.com", "team@example.com"}, {"alice@example.com"}} {
		deliverRaw(t, addr, "sender@remote.example", rcpts, corpus("spam", 50), "250 2.0.0")
	}
	deliverRaw(t, addr, "sender@remote.example", []string{"alice@example.com"}, corpus("ham", 50), "250 2.0.0")
	// Spam is in Junk (the default Sieve rule), ham in INBOX.
	got := append(f.folder("alice@example.com", "Junk"), f.inbox("alice@example.com")...)
	if n := len(f.inbox("alice@example.com")); n != 1 {
		t.Fatalf("INBOX has %d messages, want 1", n)
	}
	if len(got) != 3 {
		t.Fatalf("inbox has %d messages", len(got))
	}
	for i, m := range got {
		isSpam := i < 2
		if strings.Contains(m, "X-Spam: Yes\r\n") != isSpam || strings.Contains(m, "BAYES_SPAM=") != isSpam || strings.Contains(m, "BAYES_HAM=") == isSpam {
			t.Errorf("message %d (spam %v):\n%s", i, isSpam, m[:strings.Index(m, "\r\n\r\n")])
		}
	}
}
