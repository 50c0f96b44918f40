// Package mda is local delivery, the Mail Delivery Agent: it decides which
// local accounts an address means (accounts, aliases, subaddresses
// "user+tag@", the domain's catch-all), checks quota, adds Return-Path
// (RFC 5321 §4.4) and stores the message in every mailbox durably through
// the store. Aliases that point to other domains are handed to a Forwarder
// (the queue). Errors are *reply.Error values, so a refusal becomes an SMTP
// reply or a bounce — never silent loss.
package mda

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"pochta/internal/directory"
	"pochta/internal/envelope"
	"pochta/internal/message"
	"pochta/internal/reply"
	"pochta/internal/srs"
	"pochta/internal/store"
)

// Forwarder accepts mail for remote addresses (alias targets elsewhere).
type Forwarder interface {
	Enqueue(ctx context.Context, env envelope.Envelope, content []byte) (string, error)
}

// Signer DKIM-signs mail the MDA writes itself (vacation replies) with the
// key of its From domain (internal/dkim through internal/app, the signer
// submitted mail gets too).
type Signer interface {
	Sign(domain string, content []byte) ([]byte, error)
}

// maxAliasDepth bounds alias chains (and breaks loops).
const maxAliasDepth = 10

// defaultMaxHops is the hop limit (Received fields, RFC 5321 §6.3) of
// forwarded mail when SetMaxHops was not called: config's default.
const defaultMaxHops = 100

// errAliasLoop refuses an address whose aliases lead back to themselves
// and to no mailbox (RFC 3463 X.4.6: routing loop detected).
var errAliasLoop = reply.New(554, "5.4.6", "Alias loop detected")

// errDisabled refuses mail to a directory user who may not use mail
// (RFC 3463 §3.3, X.2.1: mailbox disabled). An alias skips such a target
// as it skips a missing one.
var errDisabled = reply.New(550, "5.2.1", "Mailbox disabled")

// Accounts finds the account mail to an address goes to: the ordered
// account sources ([auth] sources, directory.Chain), which provision the
// accounts of directory users. store.ErrNotFound when there is none;
// directory.ErrDisabled when the address's user may not receive mail
// (refused, never passed to a catch-all); any other error is temporary (a
// directory unreachable) and becomes a 4xx.
type Accounts interface {
	Account(ctx context.Context, addr string) (store.Account, error)
}

// Deliverer delivers to local mailboxes.
type Deliverer struct {
	dir      store.Directory
	mail     store.Mailstore
	forward  Forwarder
	srs      *srs.Rewriter // nil: forwarded mail keeps its sender
	accounts Accounts
	log      *slog.Logger
	// sieveStore holds the accounts' Sieve scripts (nil: the default
	// rule for everyone); sieves caches parsed scripts (sieve.go).
	sieveStore store.SieveStore
	sieves     sieveCache
	maxHops    int    // Received fields a forwarded message may carry
	signer     Signer // DKIM-signs vacation replies; nil: unsigned
}

// New returns a Deliverer. forward may be nil, in which case aliases to
// remote addresses are refused.
func New(dir store.Directory, mail store.Mailstore, forward Forwarder, log *slog.Logger) *Deliverer {
	if log == nil {
		log = slog.Default()
	}
	return &Deliverer{dir: dir, mail: mail, forward: forward, accounts: storeAccounts{dir}, log: log, maxHops: defaultMaxHops}
}

// SetSigner makes vacation replies DKIM-signed before they are queued.
func (d *Deliverer) SetSigner(s Signer) { d.signer = s }

// SetMaxHops sets the hop limit ([limits] max_hops): a message to forward
// (alias to another domain, Sieve redirect) that carries more Received
// fields is refused with 554 5.4.6 instead, which breaks loops through
// other servers (RFC 5321 §6.3).
func (d *Deliverer) SetMaxHops(n int) {
	if n > 0 {
		d.maxHops = n
	}
}

// SetAccounts makes a look-up through the account sources find an
// address's account, instead of the store's accounts alone.
func (d *Deliverer) SetAccounts(a Accounts) { d.accounts = a }

// storeAccounts finds accounts in the store only.
type storeAccounts struct{ dir store.Directory }

func (s storeAccounts) Account(ctx context.Context, addr string) (store.Account, error) {
	return s.dir.GetAccount(ctx, addr)
}

// SetForwarder sets the Forwarder after construction (the queue needs the
// Deliverer too, so the composition root wires them in two steps).
func (d *Deliverer) SetForwarder(f Forwarder) { d.forward = f }

// SetSRS makes forwarding rewrite envelope senders with SRS and makes SRS
// addresses at local domains deliverable back to the original sender (see
// srs.go).
func (d *Deliverer) SetSRS(r *srs.Rewriter) { d.srs = r }

// IsLocalDomain reports whether domain is served here.
func (d *Deliverer) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	_, err := d.dir.GetDomain(ctx, strings.ToLower(domain))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Expansion is what a local address resolves to.
type Expansion struct {
	Accounts []store.Account
	Remote   []string
	// path is the chain of aliases being expanded; loop records that one
	// of them led back to an address on it.
	path []string
	loop bool
}

// Expand resolves an address in a local domain. An unknown user is
// reply.ErrNoMailbox; an address in a domain not served here is
// reply.ErrNoRelay.
func (d *Deliverer) Expand(ctx context.Context, addr string) (Expansion, error) {
	var x Expansion
	seen := map[string]bool{}
	err := d.expand(ctx, strings.ToLower(addr), 0, seen, &x)
	if errors.Is(err, reply.ErrNoMailbox) && x.loop {
		// Nothing but a loop (a@ → b@ → a@): say so, not "no such user".
		err = errAliasLoop
	}
	return x, err
}

func (d *Deliverer) expand(ctx context.Context, addr string, depth int, seen map[string]bool, x *Expansion) error {
	if depth > maxAliasDepth {
		return reply.New(554, "5.4.6", "Alias loop or chain too long")
	}
	if seen[addr] {
		if slices.Contains(x.path, addr) {
			x.loop = true
		}
		return nil
	}
	seen[addr] = true
	domain := envelope.Domain(addr)
	local, err := d.IsLocalDomain(ctx, domain)
	if err != nil {
		return err
	}
	if !local {
		if depth == 0 {
			return reply.ErrNoRelay
		}
		x.Remote = append(x.Remote, addr)
		return nil
	}
	if d.srs != nil && srs.IsSRS(addr) {
		return d.expandSRS(ctx, addr, depth, seen, x)
	}
	candidates := []string{addr}
	if lp := envelope.LocalPart(addr); strings.Contains(lp, "+") { // subaddress
		candidates = append(candidates, lp[:strings.IndexByte(lp, '+')]+"@"+domain)
	}
	for _, c := range candidates {
		found, err := d.lookup(ctx, c, depth, seen, x)
		if err != nil || found {
			return err
		}
	}
	dom, err := d.dir.GetDomain(ctx, domain)
	if err != nil {
		return err
	}
	if dom.CatchAll != "" && !seen[dom.CatchAll] {
		found, err := d.lookup(ctx, strings.ToLower(dom.CatchAll), depth, seen, x)
		if err != nil || found {
			return err
		}
	}
	return reply.ErrNoMailbox
}

// lookup resolves addr as an account or an alias.
func (d *Deliverer) lookup(ctx context.Context, addr string, depth int, seen map[string]bool, x *Expansion) (bool, error) {
	acct, err := d.accounts.Account(ctx, addr)
	if errors.Is(err, directory.ErrDisabled) {
		return true, errDisabled
	}
	if err == nil {
		for _, a := range x.Accounts {
			if a.ID == acct.ID {
				return true, nil
			}
		}
		x.Accounts = append(x.Accounts, acct)
		return true, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	alias, err := d.dir.GetAlias(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	seen[addr] = true
	x.path = append(x.path, addr)
	defer func() { x.path = x.path[:len(x.path)-1] }()
	for _, t := range alias.Targets {
		if err := d.expand(ctx, strings.ToLower(t), depth+1, seen, x); err != nil && !errors.Is(err, reply.ErrNoMailbox) && !errors.Is(err, errDisabled) {
			return true, err
		}
	}
	if len(x.Accounts) == 0 && len(x.Remote) == 0 {
		return true, reply.ErrNoMailbox
	}
	return true, nil
}

// CheckRecipient is the RCPT-time check for a local address: it exists,
// and its mailboxes have room. size is the announced message size (SIZE
// parameter, RFC 1870) or 0 when unknown.
func (d *Deliverer) CheckRecipient(ctx context.Context, addr string, size int64) error {
	x, err := d.Expand(ctx, addr)
	if err != nil {
		return err
	}
	if len(x.Remote) > 0 && d.forward == nil {
		return reply.New(550, "5.7.1", "Forwarding is not available")
	}
	for _, a := range x.Accounts {
		if err := d.checkQuota(ctx, a, size); err != nil {
			return err
		}
	}
	return nil
}

func (d *Deliverer) checkQuota(ctx context.Context, a store.Account, size int64) error {
	used, limit, err := d.mail.QuotaUsage(ctx, a.ID)
	if err != nil {
		return err
	}
	switch {
	case limit <= 0:
		return nil
	case used >= limit:
		return reply.ErrQuotaTemp // RFC 3463 4.2.2: may clear up
	case size > 0 && used+size > limit:
		return reply.ErrQuota // this message can never fit now
	}
	return nil
}

// Deliver stores content for every recipient of env (all must be local)
// and returns one error per recipient, nil where the message is durably
// stored. A Return-Path header is prepended.
func (d *Deliverer) Deliver(ctx context.Context, env envelope.Envelope, content []byte) []error {
	errs := make([]error, len(env.Recipients))
	var targets []store.Target
	owners := map[int64][]int{} // account ID -> recipient indexes
	var accounts []store.Account
	rcptOf := map[int64]string{} // account ID -> the address it was reached by
	var remote []envelope.Recipient
	for i, r := range env.Recipients {
		x, err := d.Expand(ctx, r.Address)
		if err != nil {
			errs[i] = err
			continue
		}
		for _, a := range x.Accounts {
			if _, dup := owners[a.ID]; !dup {
				accounts = append(accounts, a)
				rcptOf[a.ID] = r.Address
			}
			owners[a.ID] = append(owners[a.ID], i)
		}
		for _, ra := range x.Remote {
			remote = append(remote, envelope.Recipient{Address: ra, Notify: r.Notify, ORcpt: r.ORcpt})
		}
	}
	// Each account's Sieve script decides where its copy goes (sieve.go).
	vacations := map[int64]plan{}
	var redirects []redirect
	rejected := map[int64]*reply.Error{}
	for _, a := range accounts {
		p := d.filter(ctx, env, a, rcptOf[a.ID], content)
		if p.reject != nil {
			rejected[a.ID] = p.reject
			d.log.Info("sieve: rejected", "id", env.ID, "account", a.Address, "reason", p.reject.Text)
			continue
		}
		targets = append(targets, p.targets...)
		if len(p.redirects) > 0 {
			redirects = append(redirects, redirect{a.Address, p.redirects})
		}
		if p.vacation != nil {
			vacations[a.ID] = p
		}
	}
	rejectRecipients(errs, accounts, owners, rejected)
	if err := d.forwardAll(ctx, env, remote, redirects, content); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	defer d.vacations(ctx, env, accounts, rcptOf, owners, errs, vacations, content)
	if len(targets) == 0 {
		return errs
	}
	full := withReturnPath(env.From, content)
	_, err := d.mail.Deliver(ctx, bytes.NewReader(full), targets)
	if errors.Is(err, store.ErrInvalidName) {
		// A Sieve fileinto named a folder the store cannot create: those
		// copies go to INBOX instead (never lose the message).
		d.log.Warn("sieve: invalid folder name, filing into INBOX", "id", env.ID, "err", err)
		targets = inboxFallback(ctx, d.mail, targets)
		_, err = d.mail.Deliver(ctx, bytes.NewReader(full), targets)
	}
	if err == nil {
		return errs
	}
	if !errors.Is(err, store.ErrOverQuota) || len(targets) == 1 {
		d.fail(errs, owners, targets, err)
		return errs
	}
	// One account is over quota: deliver to the others one by one.
	for _, t := range targets {
		_, err := d.mail.Deliver(ctx, bytes.NewReader(full), []store.Target{t})
		if err != nil {
			d.fail(errs, owners, []store.Target{t}, err)
		}
	}
	return errs
}

func (d *Deliverer) fail(errs []error, owners map[int64][]int, targets []store.Target, err error) {
	r := reply.ErrLocal
	switch {
	case errors.Is(err, store.ErrOverQuota):
		r = reply.ErrQuota
	case errors.Is(err, store.ErrNoSpace):
		r = reply.ErrNoSpace
		d.log.Error("local delivery failed: disk full", "err", err)
	default:
		d.log.Error("local delivery failed", "err", err)
	}
	for _, t := range targets {
		for _, i := range owners[t.AccountID] {
			if errs[i] == nil {
				errs[i] = r
			}
		}
	}
}

func (d *Deliverer) forwardTo(ctx context.Context, env envelope.Envelope, rcpts []envelope.Recipient, content []byte) error {
	if d.forward == nil {
		return reply.New(550, "5.7.1", "Forwarding is not available")
	}
	if message.Hops(content) > d.maxHops { // RFC 5321 §6.3: a loop through other servers
		d.log.Warn("not forwarded: too many hops", "id", env.ID, "from", env.From, "max_hops", d.maxHops)
		return reply.ErrTooManyHops
	}
	fwd := env
	fwd.Recipients = rcpts
	fwd.From = d.srsSender(ctx, env)
	id, err := d.forward.Enqueue(ctx, fwd, content)
	if err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	d.log.Info("forwarded", "id", env.ID, "queue_id", id, "rcpts", len(rcpts), "from", fwd.From)
	return nil
}

// withReturnPath prepends the Return-Path header (RFC 5321 §4.4), after
// removing any the message already carried at its top.
func withReturnPath(from string, content []byte) []byte {
	content = message.TrimTopFields(content, "Return-Path")
	out := make([]byte, 0, len(content)+len(from)+20)
	out = append(out, "Return-Path: <"...)
	out = append(out, from...)
	out = append(out, ">\r\n"...)
	return append(out, content...)
}

// OwnsAddress reports whether account may use addr as its sender: addr is
// the account's own address or an alias (or subaddress) that delivers to it.
func (d *Deliverer) OwnsAddress(ctx context.Context, account store.Account, addr string) (bool, error) {
	addr = strings.ToLower(addr)
	if addr == account.Address {
		return true, nil
	}
	x, err := d.Expand(ctx, addr)
	if err != nil {
		if _, ok := reply.As(err); ok {
			return false, nil
		}
		return false, err
	}
	dom, err := d.dir.GetDomain(ctx, envelope.Domain(addr))
	if err != nil {
		return false, err
	}
	if dom.CatchAll != "" { // a catch-all must not let its owner send as anyone
		if _, err := d.accounts.Account(ctx, addr); errors.Is(err, store.ErrNotFound) {
			if _, err := d.dir.GetAlias(ctx, addr); errors.Is(err, store.ErrNotFound) {
				base := addr
				if lp := envelope.LocalPart(addr); strings.Contains(lp, "+") {
					base = lp[:strings.IndexByte(lp, '+')] + "@" + envelope.Domain(addr)
				}
				if base != account.Address {
					return false, nil
				}
			}
		}
	}
	for _, a := range x.Accounts {
		if a.ID == account.ID {
			return true, nil
		}
	}
	return false, nil
}
