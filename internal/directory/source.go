// Package directory answers who an address belongs to and whether a
// password is theirs, from an ordered list of account sources: the
// store's own accounts ("internal"), an LDAP or Active Directory server
// ("ldap") and the machine's own users ("system").
package directory

import (
	"context"
	"errors"
)

// Errors a Source returns; compare with errors.Is.
var (
	// ErrUnknown: the source does not know the address; ask the next one.
	ErrUnknown = errors.New("directory: unknown address")
	// ErrUnavailable: the source cannot answer now (server down, timeout).
	// Callers answer with a temporary failure (RCPT 451 4.3.0), never 5xx.
	ErrUnavailable = errors.New("directory: source unavailable")
	// ErrInvalid: the source knows the user, but the password is wrong or
	// the account may not log in (disabled, locked, expired).
	ErrInvalid = errors.New("directory: invalid credentials")
)

// Entry is what a source says about one user.
type Entry struct {
	Source    string   // the source's Name
	Address   string   // the mailbox's name, lower case: the first value of the first address attribute
	Addresses []string // every address that reaches the mailbox, Address first, lower case
	Enabled   bool     // false: known, but may not use mail (disabled, not in the group, locked)
	Quota     int64    // bytes; 0: the source sets none
}

// Source is one place accounts come from.
type Source interface {
	// Name is the source's name in the config: "ldap", "system".
	Name() string
	// Lookup finds the user an address belongs to.
	Lookup(ctx context.Context, addr string) (Entry, error)
	// Authenticate checks a password for a login name (an address). The
	// source verifies it; pochta never sees or keeps the stored secret.
	Authenticate(ctx context.Context, login, password string) (Entry, error)
}
