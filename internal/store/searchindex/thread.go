package searchindex

import (
	"strings"

	msgtext "pochta/internal/message"
)

// ThreadKeys are what a message is put into a thread by, at delivery
// (RFC 8621 §3; the same fields as IMAP's THREAD=REFERENCES, RFC 5256
// §2.2): its own Message-ID, the ids it replies to, and its base subject.
// All are lower case.
type ThreadKeys struct {
	MessageID string
	// Parents are the References ids, oldest first, or else the first id
	// of In-Reply-To (RFC 5256 §2.2 step 1).
	Parents []string
	// Subject is the base subject (RFC 5256 §2.1), "" when empty.
	Subject string
}

// maxThreadParents bounds the parents one message names.
const maxThreadParents = 50

// ThreadKeys extracts the thread keys of an indexed message.
func (t *Text) ThreadKeys() ThreadKeys {
	var k ThreadKeys
	var refs, inReplyTo []string
	subjectSeen := false
	for _, hv := range t.Headers {
		switch hv[0] {
		case "message-id":
			if k.MessageID == "" {
				if ids := msgtext.MsgIDs(hv[1]); len(ids) > 0 {
					k.MessageID = ids[0]
				}
			}
		case "references":
			if refs == nil {
				refs = msgtext.MsgIDs(hv[1])
			}
		case "in-reply-to":
			if inReplyTo == nil {
				inReplyTo = msgtext.MsgIDs(hv[1])
			}
		case "subject":
			if !subjectSeen {
				subjectSeen = true
				k.Subject = strings.ToLower(msgtext.BaseSubject(hv[1]))
			}
		}
	}
	switch {
	case len(refs) > 0:
		k.Parents = refs
	case len(inReplyTo) > 0:
		k.Parents = inReplyTo[:1]
	}
	if len(k.Parents) > maxThreadParents {
		k.Parents = k.Parents[len(k.Parents)-maxThreadParents:]
	}
	return k
}
