package dkim_test

import (
	"bytes"
	"testing"

	"pochta/internal/dkim"
)

// FuzzSign signs arbitrary message content (it comes from mail clients):
// Sign must not panic, and a signed result must end with the message.
func FuzzSign(f *testing.F) {
	dir := f.TempDir()
	if _, err := dkim.Keygen(dir, "example.org", "ed", "ed25519"); err != nil {
		f.Fatal(err)
	}
	s, err := dkim.LoadSigner(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(message))
	f.Add([]byte("From: a@example.org\n\nbody"))
	f.Add([]byte("From: \"x\" <a@sub.example.org>, b@c\r\nTo:\r\n \r\n\r\n"))
	f.Add([]byte("no header at all"))
	f.Fuzz(func(t *testing.T, content []byte) {
		out, err := s.Sign("", content)
		if err != nil {
			return
		}
		if !bytes.Equal(out, content) && !bytes.HasPrefix(out, []byte("DKIM-Signature:")) {
			t.Fatalf("changed without signing: %q", out)
		}
	})
}
