package dkim_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"pochta/internal/dkim"
	"pochta/internal/store"
	"pochta/internal/store/sqlite"
)

// lookupRecords answers DKIM TXT look-ups from zone-file lines as Keygen
// returns them.
func lookupRecords(records ...string) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		for _, r := range records {
			owner, rest, _ := strings.Cut(r, ". IN TXT ")
			if owner == strings.TrimSuffix(name, ".") {
				return []string{strings.ReplaceAll(strings.ReplaceAll(rest, `" "`, ""), `"`, "")}, nil
			}
		}
		return nil, errors.New("no such record")
	}
}

// TestStateKeys: a key made in a folder (an existing install) is imported
// once into the store and signs with the same selector; a key made in the
// store signs too; neither is ever replaced.
func TestStateKeys(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := filepath.Join(t.TempDir(), "dkim")
	old, err := dkim.Keygen(dir, "example.org", "old", "rsa")
	if err != nil {
		t.Fatal(err)
	}
	for want := range []int{1, 0} { // the second import finds it there
		if n, err := dkim.ImportDir(ctx, st, dir); err != nil || n != 1-want {
			t.Fatalf("ImportDir = %d, %v; want %d", n, err, 1-want)
		}
	}
	fresh, err := dkim.KeygenState(ctx, st, "Example.org", "new", "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dkim.KeygenState(ctx, st, "example.org", "new", "ed25519"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second KeygenState: %v, want ErrExists", err)
	}
	s, err := dkim.LoadStateSigner(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Keys()); n != 2 {
		t.Fatalf("%d keys loaded, want 2", n)
	}
	signed, err := s.Sign("", []byte(message))
	if err != nil {
		t.Fatal(err)
	}
	vs := verify(t, lookupRecords(old, fresh), signed)
	if len(vs) != 2 {
		t.Fatalf("%d signatures, want 2", len(vs))
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Fatalf("signature by %s does not verify: %v", v.Domain, v.Err)
		}
	}
}
