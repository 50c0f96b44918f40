package auth

import (
	"context"
	"errors"
	"fmt"
)

// ErrDisabled: the credentials were right but the account is disabled
// (`pochta user disable`); it wraps ErrInvalid, so every protocol answers
// it as a failed login, after the same delay.
var ErrDisabled = fmt.Errorf("%w: account disabled", ErrInvalid)

// refuseDisabled returns ErrDisabled when the account is disabled, nil
// when it may log in or flags are not configured, or the store's error.
func (a *Authenticator) refuseDisabled(ctx context.Context, accountID int64) error {
	if a.opts.Flags == nil {
		return nil
	}
	f, err := a.opts.Flags.AccountFlags(ctx, accountID)
	switch {
	case err != nil:
		return err
	case f.Disabled:
		return ErrDisabled
	}
	return nil
}

// IsAdmin reports whether the account may use the web admin.
func (a *Authenticator) IsAdmin(ctx context.Context, accountID int64) (bool, error) {
	if a.opts.Flags == nil {
		return false, nil
	}
	f, err := a.opts.Flags.AccountFlags(ctx, accountID)
	return f.Admin, err
}

// loginResult is the label of a login's outcome for Options.OnLogin.
func loginResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrInvalid):
		return "failed"
	}
	return "error"
}

// ProtoAdmin is the web admin's login (internal/admin); no app password
// opens it (accountPage).
const ProtoAdmin = "admin"
