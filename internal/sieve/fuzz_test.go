package sieve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes the parser panic or loop, and
// that every error carries a position inside the script.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.txt")
	for _, s := range seeds {
		data, _ := os.ReadFile(s)
		for _, chunk := range strings.Split(string(data), "--- script\n")[1:] {
			f.Add(strings.SplitN(chunk, "\n--- ", 2)[0])
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		_, err := Parse(src)
		if e, ok := err.(*Error); ok && (e.Pos.Line < 1 || e.Pos.Col < 1) {
			t.Fatalf("error without a position: %v", err)
		}
	})
}

// FuzzRun runs random scripts that parse on a random message: the
// interpreter must neither panic nor exceed its limits.
func FuzzRun(f *testing.F) {
	f.Add(`require ["fileinto","variables","body","imap4flags"]; if header :matches "subject" "*o*" { addflag "${1}"; fileinto "${2}"; }`, defaultMessage)
	f.Add(`require "body"; if body :contains "x" { discard; }`, "Subject: x\r\n\r\nx\r\n")
	f.Add(`redirect "a@b.c"; redirect :copy "d@e.f";`, "")
	f.Fuzz(func(t *testing.T, src, msg string) {
		s, err := Parse(src)
		if err != nil {
			return
		}
		res := s.Run(&Input{From: "a@example.org", To: "b@example.com", Content: []byte(msg)})
		redirects := 0
		for _, a := range res.Actions {
			if a.Kind == ActRedirect {
				redirects++
			}
		}
		if redirects > MaxRedirects || len(res.Actions) > maxActions+1 {
			t.Fatalf("limits exceeded: %d actions, %d redirects", len(res.Actions), redirects)
		}
	})
}
