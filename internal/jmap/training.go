package jmap

import (
	spamrule "pochta/internal/spam"
	"pochta/internal/store"
)

// trainMove teaches the Trainer what moving one message from src to dst
// says (nothing, spam or ham), the message now being dstUID in dst and
// carrying prior flags before the move. As for an IMAP MOVE, a message
// already counted as this class is not counted again, one counted as the
// other class has that undone first, and the class keyword is set.
// Errors are logged: training never fails the user's change.
func (c *call) trainMove(src, dst store.Mailbox, dstUID uint32, prior []string) {
	t := c.s.opts.Trainer
	spam, ok := spamrule.MoveTeaches(src.SpecialUse, dst.SpecialUse, true)
	if t == nil || !ok {
		return
	}
	log := c.s.opts.Logger.With("account", c.acct.Address)
	spamrule.Teach(c.ctx, t, c.s.st, log, c.acct.ID, dst.ID, []spamrule.Trainee{{UID: dstUID, Prior: prior}}, spam, 1)
}
