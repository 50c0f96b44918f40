package mda

import (
	"context"

	"pochta/internal/reply"
)

// AccountFor resolves a recipient to the account whose spam filter judges
// a message for it (spam.Recipients): the first account the address
// expands to through aliases, subaddress and catch-all. ok is false for
// addresses that reach no local account.
func (d *Deliverer) AccountFor(ctx context.Context, addr string) (accountID int64, ok bool, err error) {
	x, err := d.Expand(ctx, addr)
	if err != nil {
		if _, isReply := reply.As(err); isReply {
			return 0, false, nil // not local, or no such user
		}
		return 0, false, err
	}
	if len(x.Accounts) == 0 {
		return 0, false, nil
	}
	return x.Accounts[0].ID, true, nil
}
