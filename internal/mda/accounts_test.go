package mda

import (
	"context"
	"fmt"
	"testing"

	"pochta/internal/directory"
	"pochta/internal/reply"
	"pochta/internal/store"
)

// disabling is the store's accounts, except addresses a directory says
// may not use mail (what directory.Chain answers for them).
type disabling struct {
	dir      store.Directory
	disabled map[string]bool
}

func (d disabling) Account(ctx context.Context, addr string) (store.Account, error) {
	if d.disabled[addr] {
		return store.Account{}, fmt.Errorf("%w: %s", directory.ErrDisabled, addr)
	}
	return d.dir.GetAccount(ctx, addr)
}

// TestDisabledRecipient: a disabled user's mail is refused with 5.2.1,
// not passed to the catch-all; an alias skips it and reaches the others.
func TestDisabledRecipient(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.d.SetAccounts(disabling{f.st, map[string]bool{"john@a.test": true, "gone@b.test": true}})
	for addr, want := range map[string]*reply.Error{
		"john@a.test":     errDisabled,
		"gone@b.test":     errDisabled, // b.test has a catch-all
		"other@b.test":    nil,
		"team@a.test":     nil,
		"kate@a.test":     nil,
		"nobody@a.test":   reply.ErrNoMailbox,
		"john+tag@a.test": errDisabled,
	} {
		err := f.d.CheckRecipient(ctx, addr, 0)
		if r, _ := reply.As(err); r != want {
			t.Errorf("CheckRecipient(%s) = %v, want %v", addr, err, want)
		}
	}
	x, err := f.d.Expand(ctx, "team@a.test")
	if err != nil || len(x.Accounts) != 1 || x.Accounts[0].Address != "kate@a.test" {
		t.Errorf("Expand(team) = %+v, %v; want kate only", x, err)
	}
}
