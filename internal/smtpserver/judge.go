package smtpserver

import (
	"context"
	"net/netip"

	"pochta/internal/checks"
	"pochta/internal/envelope"
	"pochta/internal/reply"
)

// Checks judges where inbound mail comes from (*checks.Checker): SPF,
// DKIM, DMARC, iprev, DNSBL.
type Checks interface {
	Check(ctx context.Context, env envelope.Envelope, content []byte) (checks.Result, error)
}

// judged reports whether this session's mail goes through the checks:
// inbound mode from outside only. Submission, authenticated sessions and
// trusted networks are our own users and skip them.
func (c *session) judged() bool {
	if c.s.opts.Mode != ModeInbound || c.account != nil {
		return false
	}
	return !inPrefixes(c.s.opts.TrustedNetworks, c.remote)
}

func inPrefixes(list []netip.Prefix, ip netip.Addr) bool {
	for _, p := range list {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// judgement is what the checks said of one message from outside.
type judgement struct {
	header     string          // Authentication-Results, right below our Received
	symbols    []checks.Symbol // for the spam score
	quarantine bool            // DMARC p=quarantine: at least Junk
}

// judge runs the checks on a message from outside. It returns their
// judgement, the content with foreign Authentication-Results claiming our
// host name removed (RFC 8601 §5), and the refusal when a check refuses
// the message (nothing is stored).
func (c *session) judge(tx *transaction, env envelope.Envelope, content []byte) (judgement, []byte, *reply.Error) {
	if !c.judged() {
		return judgement{}, content, nil
	}
	content = checks.StripAuthResults(content, c.s.opts.Hostname)
	if c.s.opts.Checks == nil {
		return judgement{}, content, nil
	}
	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.limits.DataTimeout.Duration)
	defer cancel()
	res, err := c.s.opts.Checks.Check(ctx, env, content)
	if err != nil {
		c.s.log.Error("checks failed", "id", tx.id, "err", err)
		return judgement{}, content, reply.ErrLocal
	}
	var score float64
	names := make([]string, 0, len(res.Symbols))
	for _, s := range res.Symbols {
		score += s.Score
		names = append(names, s.Name)
	}
	c.s.log.Info("checks", "id", tx.id, "ip", c.remote, "from", env.From,
		"symbols", names, "score", score, "quarantine", res.Quarantine, "refused", res.Reject != nil)
	if res.Reject != nil {
		return judgement{}, content, res.Reject
	}
	return judgement{header: res.AuthResults, symbols: res.Symbols, quarantine: res.Quarantine}, content, nil
}
