package jmap

import (
	"strings"

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
	mine, other := spamrule.KeywordNotJunk, spamrule.KeywordJunk
	if spam {
		mine, other = spamrule.KeywordJunk, spamrule.KeywordNotJunk
	}
	if !hasFlag(prior, mine) {
		steps := []struct{ spam, undo bool }{{spam, false}}
		if hasFlag(prior, other) {
			steps = []struct{ spam, undo bool }{{!spam, true}, {spam, false}}
		}
		for _, step := range steps {
			r, err := c.s.st.Open(c.ctx, dst.ID, dstUID)
			if err == nil {
				err = t.Train(c.ctx, c.acct.ID, r, step.spam, step.undo)
				r.Close()
			}
			if err != nil {
				c.s.opts.Logger.Warn("spam training failed", "account", c.acct.Address, "err", err)
				return
			}
		}
		c.s.opts.Logger.Info("spam training", "account", c.acct.Address, "spam", spam, "messages", 1)
	}
	set := store.UIDSet{{Start: dstUID, Stop: dstUID}}
	if _, _, err := c.s.st.SetFlags(c.ctx, dst.ID, set, store.FlagsAdd, []string{mine}, 0); err != nil {
		c.s.opts.Logger.Warn("spam training: setting "+mine+" failed", "err", err)
	}
	if _, _, err := c.s.st.SetFlags(c.ctx, dst.ID, set, store.FlagsRemove, []string{other}, 0); err != nil {
		c.s.opts.Logger.Warn("spam training: removing "+other+" failed", "err", err)
	}
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}
