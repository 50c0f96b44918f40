// Package reply defines the one error type that crosses pochta's mail path:
// an SMTP reply with its basic code (RFC 5321 §4.2), its enhanced status
// code (RFC 3463) and text. Every component that can refuse a message
// (policy, local delivery, the queue, a remote server) speaks in these, so
// the SMTP server can answer exactly and a bounce can quote exactly.
package reply

import (
	"errors"
	"fmt"
)

// Error is an SMTP reply that refuses something.
type Error struct {
	Code     int    // 4xx or 5xx
	Enhanced string // "5.1.1"; may be empty
	Text     string // human text, never internals
}

// New builds an *Error.
func New(code int, enhanced, format string, a ...any) *Error {
	return &Error{Code: code, Enhanced: enhanced, Text: fmt.Sprintf(format, a...)}
}

func (e *Error) Error() string {
	if e.Enhanced != "" {
		return fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Text)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Text)
}

// Temporary reports whether the failure is transient (4xx): retry later.
func (e *Error) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// As extracts an *Error from err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Or returns err's *Error, or the fallback reply for errors that carry none
// (those are internal and must not be shown to the peer).
func Or(err error, fallback *Error) *Error {
	if e, ok := As(err); ok {
		return e
	}
	return fallback
}

// Common replies.
var (
	ErrLocal      = &Error{451, "4.3.0", "Local error in processing, try again later"}
	ErrNoRelay    = &Error{550, "5.7.1", "Relaying denied"}
	ErrNoMailbox  = &Error{550, "5.1.1", "No such user here"}
	ErrBadAddress = &Error{553, "5.1.3", "Bad recipient address syntax"}
	ErrQuotaTemp  = &Error{452, "4.2.2", "Mailbox full"}
	ErrQuota      = &Error{552, "5.2.2", "Mailbox full"}
	ErrTooBig     = &Error{552, "5.3.4", "Message size exceeds fixed maximum message size"}
	ErrNoSpace    = &Error{452, "4.3.1", "Insufficient system storage"}
	// ErrTooManyHops refuses a message that carries more Received fields
	// than the hop limit: a mail loop (RFC 5321 §6.3; RFC 3463 X.4.6,
	// routing loop detected).
	ErrTooManyHops = &Error{554, "5.4.6", "Too many hops"}
)
