package maildir

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFolderName checks the Maildir++ folder name codec: decoding any
// directory name never panics, and every valid store name survives
// encoding and decoding unchanged.
func FuzzFolderName(f *testing.F) {
	for _, s := range []string{"Work.2026", "&AOQ-rger", "v1&AC4-2", "&U,BTFw-", "a..b", "&", "&-", "R&-D.x", "Sent"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		folderName(s) // must not panic
		if !utf8.ValidString(s) || s == "" {
			return
		}
		for _, l := range strings.Split(s, "/") {
			if l == "" {
				return
			}
		}
		dir := folderDir(s)
		if s == "INBOX" {
			return
		}
		got, err := folderName(dir[1:])
		if err != nil || got != s {
			t.Fatalf("name %q → dir %q → %q, %v", s, dir, got, err)
		}
	})
}

// FuzzParseInfo checks that any info suffix maps to valid flags.
func FuzzParseInfo(f *testing.F) {
	for _, s := range []string{"2,S", "2,DFPRST", "2,abz", "1,xyz", "2,", ""} {
		f.Add(s)
	}
	kw := map[int]string{0: "$Junk", 25: "last"}
	f.Fuzz(func(t *testing.T, info string) {
		for _, fl := range parseInfo(info, kw) {
			if fl == "" {
				t.Fatalf("empty flag from %q", info)
			}
		}
	})
}
