package names

import (
	"errors"
	"strings"
	"testing"

	"pochta/internal/store"
)

// FuzzNormName checks mailbox name validation: accepted names are
// normalised idempotently and obey the documented rules.
func FuzzNormName(f *testing.F) {
	for _, s := range []string{"INBOX", "inbox/a", "a//b", "/a", "a/", ".", "a/../b", "x\x00y", "Ünï/cödé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := Norm(name)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidName) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(n) != len(name) || len(n) > MaxLen || n == "" {
			t.Fatalf("Norm(%q) = %q", name, n)
		}
		if strings.HasPrefix(n, "/") || strings.HasSuffix(n, "/") || strings.Contains(n, "//") {
			t.Fatalf("accepted %q", name)
		}
		if n2, err := Norm(n); err != nil || n2 != n {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", name, n, n2, err)
		}
	})
}
