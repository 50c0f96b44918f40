package imapserver

import (
	"context"
	"io"
	"strings"

	spamrule "pochta/internal/spam"
	"pochta/internal/store"
)

// Trainer learns spam and ham from what the user does (*spam.Filter):
// Train adds one message to the account's spam (or ham) counts, or with
// undo takes back an earlier training of that class.
type Trainer interface {
	Train(ctx context.Context, accountID int64, content io.Reader, spam, undo bool) error
}

// The keywords that record how a message was trained (internal/spam).
const (
	kwJunk    = spamrule.KeywordJunk
	kwNotJunk = spamrule.KeywordNotJunk
)

// maxTrainPerCommand bounds the messages one command trains, so moving a
// whole mailbox into Junk does not hold the command for long; the rest
// are left untrained (and unmarked).
const maxTrainPerCommand = 500

// trainee is one message to train (its UID now, its flags before).
type trainee = spamrule.Trainee

// copyClass says what a COPY or MOVE from src to dst teaches
// (spam.MoveTeaches); ok is false when it teaches nothing.
func copyClass(src, dst store.Mailbox, move bool) (spam, ok bool) {
	return spamrule.MoveTeaches(src.SpecialUse, dst.SpecialUse, move)
}

// priorFlags reads the flags of the messages in set before a command
// changes them; nil when there is no Trainer.
func (s *session) priorFlags(mailboxID int64, set store.UIDSet) map[uint32][]string {
	if s.srv.opts.Trainer == nil {
		return nil
	}
	out := map[uint32][]string{}
	err := s.srv.opts.Store.Messages(s.ctx, mailboxID, set, func(m store.Message) error {
		out[m.UID] = m.Flags
		return nil
	})
	if err != nil {
		s.srv.log.Warn("spam training: reading flags failed", "err", err)
		return nil
	}
	return out
}

// trainCopied trains the copies a COPY or MOVE made, when the command
// teaches something (copyClass).
func (s *session) trainCopied(src, dst store.Mailbox, pairs []store.UIDPair, prior map[uint32][]string, move bool) {
	spam, ok := copyClass(src, dst, move)
	if !ok || prior == nil {
		return
	}
	list := make([]trainee, 0, len(pairs))
	for _, p := range pairs {
		list = append(list, trainee{UID: p.Dst, Prior: prior[p.Src]})
	}
	s.train(dst.ID, list, spam)
}

// trainStored trains the messages a STORE newly marked $Junk (spam) or
// $NotJunk (ham); a message given both at once teaches nothing.
func (s *session) trainStored(mailboxID int64, changed []store.Message, prior map[uint32][]string) {
	if prior == nil {
		return
	}
	var spam, ham []trainee
	for _, m := range changed {
		before := prior[m.UID]
		newJunk := m.HasFlag(kwJunk) && !hasFlag(before, kwJunk)
		newNotJunk := m.HasFlag(kwNotJunk) && !hasFlag(before, kwNotJunk)
		switch {
		case newJunk && !newNotJunk:
			spam = append(spam, trainee{UID: m.UID, Prior: before})
		case newNotJunk && !newJunk:
			ham = append(ham, trainee{UID: m.UID, Prior: before})
		}
	}
	s.train(mailboxID, spam, true)
	s.train(mailboxID, ham, false)
}

// train teaches the Trainer the messages of list (spam.Teach: once per
// class, undoing the other, at most maxTrainPerCommand) and marks them.
func (s *session) train(mailboxID int64, list []trainee, spam bool) {
	if len(list) == 0 || s.srv.opts.Trainer == nil {
		return
	}
	spamrule.Teach(s.ctx, s.srv.opts.Trainer, s.srv.opts.Store, s.srv.log.With("account", s.acct.Address), s.acct.ID, mailboxID, list, spam, maxTrainPerCommand)
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

// storeTrains reports whether a STORE with these flags can teach the
// Trainer (it sets $Junk or $NotJunk).
func (s *session) storeTrains(op store.FlagOp, flags []string) bool {
	return s.srv.opts.Trainer != nil && op != store.FlagsRemove && (hasFlag(flags, kwJunk) || hasFlag(flags, kwNotJunk))
}
