package spam

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"pochta/internal/store"
)

// What the user's moves teach the filter, the same for every protocol
// (IMAP COPY/MOVE/STORE, JMAP Email/set).

// The keywords that record how a message was trained, as Thunderbird and
// mox use them: a message carries at most one of them, and carries it
// exactly when it was trained as that class, so a message moved back and
// forth is counted once, in its latest class.
const (
	KeywordJunk    = "$Junk"
	KeywordNotJunk = "$NotJunk"
)

// MoveTeaches says what a copy (move false) or a move of a message from a
// mailbox of special use src to one of dst teaches: into Junk is spam;
// moved out of Junk (not into Trash: deleting spam says nothing) is ham.
// ok is false when it teaches nothing.
func MoveTeaches(src, dst string, move bool) (spam, ok bool) {
	switch {
	case dst == `\Junk` && src != `\Junk`:
		return true, true
	case move && src == `\Junk` && dst != `\Junk` && dst != `\Trash`:
		return false, true
	}
	return false, false
}

// Trainee is one message a user's change teaches: its UID in the mailbox
// it is in now and its flags before the change.
type Trainee struct {
	UID   uint32
	Prior []string
}

// Learner is the filter as the protocols teach it (*Filter): Train adds
// one message to the account's spam (or ham) counts, or with undo takes
// back an earlier training of that class.
type Learner interface {
	Train(ctx context.Context, accountID int64, content io.Reader, spam, undo bool) error
}

// TrainStore is what Teach needs of the store.
type TrainStore interface {
	Open(ctx context.Context, mailboxID int64, uid uint32) (io.ReadSeekCloser, error)
	SetFlags(ctx context.Context, mailboxID int64, set store.UIDSet, op store.FlagOp, flags []string, unchangedSince uint64) ([]store.Message, []uint32, error)
}

// Teach trains l with each message of list (all in mailboxID) that was not
// already trained as this class — undoing its training as the other class
// first — at most limit of them, then marks them with the class keyword
// and removes the other one, so every protocol counts a message once, in
// its latest class. It returns how many it trained. Failures are logged
// and leave that message unmarked: training never fails the user's change.
func Teach(ctx context.Context, l Learner, st TrainStore, log *slog.Logger, accountID, mailboxID int64, list []Trainee, spam bool, limit int) int {
	if len(list) == 0 || l == nil {
		return 0
	}
	mine, other := KeywordNotJunk, KeywordJunk
	if spam {
		mine, other = KeywordJunk, KeywordNotJunk
	}
	var set store.UIDSet
	trained := 0
	for _, t := range list {
		if hasKeyword(t.Prior, mine) {
			set = append(set, store.UIDRange{Start: t.UID, Stop: t.UID})
			continue // already counted as this class
		}
		if trained >= limit {
			log.Warn("spam training: too many messages in one change, rest left untrained", "limit", limit, "messages", len(list))
			break
		}
		if err := teachOne(ctx, l, st, accountID, mailboxID, t.UID, spam, hasKeyword(t.Prior, other)); err != nil {
			log.Warn("spam training failed", "uid", t.UID, "err", err)
			continue
		}
		trained++
		set = append(set, store.UIDRange{Start: t.UID, Stop: t.UID})
	}
	if len(set) == 0 {
		return trained
	}
	if _, _, err := st.SetFlags(ctx, mailboxID, set, store.FlagsAdd, []string{mine}, 0); err != nil {
		log.Warn("spam training: setting "+mine+" failed", "err", err)
	}
	if _, _, err := st.SetFlags(ctx, mailboxID, set, store.FlagsRemove, []string{other}, 0); err != nil {
		log.Warn("spam training: removing "+other+" failed", "err", err)
	}
	if trained > 0 {
		log.Info("spam training", "spam", spam, "messages", trained)
	}
	return trained
}

// teachOne trains one message as spam or ham, first taking back its
// training as the other class when undoOther is set.
func teachOne(ctx context.Context, l Learner, st TrainStore, accountID, mailboxID int64, uid uint32, spam, undoOther bool) error {
	for _, step := range []struct{ spam, undo, do bool }{{!spam, true, undoOther}, {spam, false, true}} {
		if !step.do {
			continue
		}
		r, err := st.Open(ctx, mailboxID, uid)
		if err != nil {
			return err
		}
		err = l.Train(ctx, accountID, r, step.spam, step.undo)
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func hasKeyword(flags []string, k string) bool {
	for _, f := range flags {
		if strings.EqualFold(f, k) {
			return true
		}
	}
	return false
}
