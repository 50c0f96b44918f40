package spam

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
