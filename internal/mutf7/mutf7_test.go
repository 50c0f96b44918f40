package mutf7

import (
	"testing"
	"unicode/utf8"
)

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct{ utf8, mutf7 string }{
		{"INBOX", "INBOX"}, {"R&D", "R&-D"}, {"Entwürfe", "Entw&APw-rfe"}, {"日本語", "&ZeVnLIqe-"}, {"a~b", "a~b"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"}, // RFC 3501 §5.1.3 example
	} {
		if got := Encode(c.utf8, ""); got != c.mutf7 {
			t.Errorf("Encode(%q) = %q, want %q", c.utf8, got, c.mutf7)
		}
		if got, err := Decode(c.mutf7); err != nil || got != c.utf8 {
			t.Errorf("Decode(%q) = %q %v", c.mutf7, got, err)
		}
	}
	for _, bad := range []string{"&", "&Jjo", "&AGE-", "a\x01", "&&-", "caf\u00e9"} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

func TestAlso(t *testing.T) {
	enc := Encode("v1.2 ü", ".")
	if enc != "v1&AC4-2 &APw-" {
		t.Fatalf("Encode with also = %q", enc)
	}
	if _, err := Decode(enc); err == nil {
		t.Fatal("strict Decode accepted encoded ASCII")
	}
	if got, err := DecodeLenient(enc); err != nil || got != "v1.2 ü" {
		t.Fatalf("DecodeLenient = %q %v", got, err)
	}
}

// FuzzDecode: mailbox names come from the network; Decode never panics,
// and what it accepts survives Encode and Decode unchanged.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"INBOX", "R&-D", "&ZeVnLIqe-", "&", "&AGE-", "Entw&APw-rfe", "&2D3eAA-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dec, err := Decode(s)
		if err != nil {
			return
		}
		if !utf8.ValidString(dec) {
			t.Fatalf("Decode(%q) gave invalid UTF-8", s)
		}
		if again, err := Decode(Encode(dec, "")); err != nil || again != dec {
			t.Fatalf("Decode(%q) = %q does not round-trip: %q %v", s, dec, again, err)
		}
	})
}
