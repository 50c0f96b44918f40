//go:build pam

package system

import (
	"context"
	"errors"
	"fmt"

	"github.com/msteinert/pam/v2"

	"pochta/internal/directory"
)

// The PAM build (go build -tags pam ./cmd/pochta; needs cgo and
// libpam0g-dev) asks the host's PAM stack, service Options.PAMService,
// to authenticate the user and to accept the account (pam_authenticate,
// pam_acct_mgmt), so every hash scheme the host uses works, yescrypt
// included. Without /etc/pam.d/<service> PAM uses /etc/pam.d/other
// (common-auth and common-account on Debian).

// pamBuild tells the tests which build this is.
const pamBuild = true

// pamSlots bounds the PAM transactions running at once: each runs a slow
// password hash in a thread of its own, and pam_unix sleeps after a failure.
const pamSlots = 4

// verify runs one PAM transaction for u. A transaction cannot be
// cancelled; when ctx ends first, verify returns and the transaction
// finishes on its own.
func (s *Source) verify(ctx context.Context, u user, password string) error {
	select {
	case s.pam <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", directory.ErrUnavailable, ctx.Err())
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-s.pam }()
		done <- s.pamCheck(u.name, password)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", directory.ErrUnavailable, ctx.Err())
	}
}

func (s *Source) pamCheck(name, password string) error {
	t, err := pam.StartFunc(s.opts.PAMService, name, func(style pam.Style, msg string) (string, error) {
		switch style {
		case pam.PromptEchoOff:
			return password, nil
		case pam.PromptEchoOn:
			return name, nil
		case pam.ErrorMsg, pam.TextInfo:
			return "", nil
		}
		return "", errors.New("unexpected PAM conversation")
	})
	if err != nil {
		return fmt.Errorf("%w: PAM service %s: %v", directory.ErrUnavailable, s.opts.PAMService, err)
	}
	defer t.End()
	if err := t.Authenticate(pam.Silent | pam.DisallowNullAuthtok); err != nil {
		return pamError(name, err)
	}
	if err := t.AcctMgmt(pam.Silent | pam.DisallowNullAuthtok); err != nil {
		return pamError(name, err)
	}
	return nil
}

// pamError sorts PAM's answers: the host could not check (unavailable) or
// it said no (invalid).
func pamError(name string, err error) error {
	switch {
	case errors.Is(err, pam.ErrSystem), errors.Is(err, pam.ErrService), errors.Is(err, pam.ErrBuf),
		errors.Is(err, pam.ErrOpen), errors.Is(err, pam.ErrSymbol), errors.Is(err, pam.ErrAuthinfoUnavail):
		return fmt.Errorf("%w: PAM, system user %s: %v", directory.ErrUnavailable, name, err)
	}
	return fmt.Errorf("%w: PAM, system user %s: %v", directory.ErrInvalid, name, err)
}
