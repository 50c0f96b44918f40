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

// trainee is one message to train: its UID in the mailbox it is in now
// and its flags before the user's command.
type trainee struct {
	uid   uint32
	prior []string
}

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
		list = append(list, trainee{uid: p.Dst, prior: prior[p.Src]})
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
			spam = append(spam, trainee{m.UID, before})
		case newNotJunk && !newJunk:
			ham = append(ham, trainee{m.UID, before})
		}
	}
	s.train(mailboxID, spam, true)
	s.train(mailboxID, ham, false)
}

// train teaches the Trainer each message that was not already trained as
// this class (undoing its training as the other class), then marks them
// with the class keyword and removes the other one. Errors are logged:
// training never fails the user's command.
func (s *session) train(mailboxID int64, list []trainee, spam bool) {
	if len(list) == 0 || s.srv.opts.Trainer == nil {
		return
	}
	mine, other := kwNotJunk, kwJunk
	if spam {
		mine, other = kwJunk, kwNotJunk
	}
	var set store.UIDSet
	trained := 0
	for _, t := range list {
		if hasFlag(t.prior, mine) {
			set = append(set, store.UIDRange{Start: t.uid, Stop: t.uid})
			continue // already counted as this class
		}
		if trained >= maxTrainPerCommand {
			s.srv.log.Warn("spam training: too many messages in one command, rest left untrained", "account", s.acct.Address, "limit", maxTrainPerCommand, "messages", len(list))
			break
		}
		if err := s.trainOne(mailboxID, t.uid, spam, hasFlag(t.prior, other)); err != nil {
			s.srv.log.Warn("spam training failed", "account", s.acct.Address, "uid", t.uid, "err", err)
			continue
		}
		trained++
		set = append(set, store.UIDRange{Start: t.uid, Stop: t.uid})
	}
	if len(set) == 0 {
		return
	}
	st := s.srv.opts.Store
	if _, _, err := st.SetFlags(s.ctx, mailboxID, set, store.FlagsAdd, []string{mine}, 0); err != nil {
		s.srv.log.Warn("spam training: setting "+mine+" failed", "account", s.acct.Address, "err", err)
	}
	if _, _, err := st.SetFlags(s.ctx, mailboxID, set, store.FlagsRemove, []string{other}, 0); err != nil {
		s.srv.log.Warn("spam training: removing "+other+" failed", "account", s.acct.Address, "err", err)
	}
	if trained > 0 {
		s.srv.log.Info("spam training", "account", s.acct.Address, "spam", spam, "messages", trained)
	}
}

// trainOne trains one message as spam or ham, first taking back its
// training as the other class when undoOther is set.
func (s *session) trainOne(mailboxID int64, uid uint32, spam, undoOther bool) error {
	for _, step := range []struct{ spam, undo, do bool }{{!spam, true, undoOther}, {spam, false, true}} {
		if !step.do {
			continue
		}
		r, err := s.srv.opts.Store.Open(s.ctx, mailboxID, uid)
		if err != nil {
			return err
		}
		err = s.srv.opts.Trainer.Train(s.ctx, s.acct.ID, r, step.spam, step.undo)
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
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
