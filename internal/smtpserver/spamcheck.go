package smtpserver

import (
	"context"
	"strings"

	"pochta/internal/checks"
	"pochta/internal/envelope"
	"pochta/internal/reply"
	"pochta/internal/spam"
)

// SpamFilter judges mail from outside (*spam.Filter).
type SpamFilter interface {
	Classify(ctx context.Context, env envelope.Envelope, content []byte, symbols []checks.Symbol) (spam.Verdict, error)
}

// spamStep asks the spam filter and returns the content to deliver and the header fields to add
// on top of it, or the reply that refuses (Reject) or defers (Defer) the
// message. symbols are the sender-authentication checks' findings;
// quarantine (DMARC p=quarantine) makes the verdict at least Junk. A
// filter error delivers the message without a verdict (logged): mail is
// never lost to a broken filter.
func (c *session) spamStep(tx *transaction, env envelope.Envelope, content []byte, symbols []checks.Symbol, quarantine bool) ([]byte, string, *reply.Error) {
	if c.s.opts.Spam == nil {
		if quarantine {
			return content, "X-Spam: Yes\r\n", nil // the MDA's default rule files it into Junk
		}
		return content, "", nil
	}
	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.limits.DataTimeout.Duration)
	defer cancel()
	env.Recipients = tx.rcpts
	v, err := c.s.opts.Spam.Classify(ctx, env, content, symbols)
	if err != nil {
		c.s.log.Error("spam filter failed, delivering without a verdict", "id", tx.id, "err", err)
		return content, "", nil
	}
	if quarantine && v.Action == spam.Accept {
		v.Action = spam.Junk
	}
	names := make([]string, 0, len(v.Symbols))
	for _, s := range v.Symbols {
		names = append(names, s.Name)
	}
	c.s.log.Info("spam verdict", "id", tx.id, "action", v.Action.String(), "score", v.Score, "symbols", strings.Join(names, ","))
	switch v.Action {
	case spam.Reject, spam.Defer:
		if v.Reply != nil {
			return nil, "", v.Reply
		}
		if v.Action == spam.Defer {
			return nil, "", reply.New(451, "4.7.1", "Try again later")
		}
		return nil, "", reply.New(550, "5.7.1", "Message refused as spam")
	}
	return content, v.Headers(), nil
}
