package mda

import (
	"context"
	"strings"

	"pochta/internal/envelope"
	"pochta/internal/reply"
)

// errBadSRS refuses an SRS address whose hash or timestamp does not verify:
// RFC 3463 X.1.1, the mailbox does not exist (as postsrsd's answer).
var errBadSRS = reply.New(550, "5.1.1", "Invalid or expired SRS address")

// expandSRS resolves an SRS address at a local domain to the address it
// stands for (a bounce to a message we forwarded goes back to its original
// sender), or refuses a forged or expired one.
func (d *Deliverer) expandSRS(ctx context.Context, addr string, depth int, seen map[string]bool, x *Expansion) error {
	orig, err := d.srs.Reverse(addr)
	if err != nil {
		d.log.Info("SRS address refused", "rcpt", addr, "err", err)
		return errBadSRS
	}
	return d.expand(ctx, strings.ToLower(orig), depth+1, seen, x)
}

// srsSender is the envelope sender for a copy of env forwarded to another
// domain: an SRS address at the domain that forwards it (the first local
// domain among env's recipients — the alias's or the Sieve account's), so
// SPF passes at the destination and bounces come back here. The null
// sender (a bounce must stay one, RFC 5321 §4.5.5) and senders in our own
// domains (SPF already passes for us) are kept.
func (d *Deliverer) srsSender(ctx context.Context, env envelope.Envelope) string {
	if d.srs == nil || env.From == "" {
		return env.From
	}
	if local, err := d.IsLocalDomain(ctx, envelope.Domain(env.From)); err != nil || local {
		return env.From
	}
	for _, r := range env.Recipients {
		dom := strings.ToLower(envelope.Domain(r.Address))
		if local, err := d.IsLocalDomain(ctx, dom); err != nil || !local {
			continue
		}
		rewritten, err := d.srs.Forward(env.From, dom)
		if err != nil {
			d.log.Warn("SRS rewrite failed, forwarding with the original sender", "from", env.From, "err", err)
			return env.From
		}
		return rewritten
	}
	return env.From
}
