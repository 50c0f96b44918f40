package srs

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"pochta/internal/store/sqlite"
)

// TestStateSecrets: nodes starting at once on one store agree on one
// generated secret, and it is the same after a restart.
func TestStateSecrets(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	got := make([][][]byte, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := LoadStateSecrets(ctx, st)
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		}()
	}
	wg.Wait()
	st.Close()
	st, err = sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	again, err := LoadStateSecrets(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got {
		if len(s) != 1 || len(s[0]) < 40 || !bytes.Equal(s[0], again[0]) {
			t.Fatalf("node %d has secrets %q, after restart %q", i, s, again)
		}
	}
}
