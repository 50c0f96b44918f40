package jmap

import (
	"cmp"
	"strings"

	gomail "github.com/emersion/go-message/mail"

	"pochta/internal/message"
	"pochta/internal/store"
)

// What Email/query needs from a message's content rather than its
// metadata: the hasAttachment filter and the from and subject sorts (RFC
// 8621 §4.4.1, §4.4.2). The content is read once per message and query.

type msgKey struct {
	mailbox int64
	uid     uint32
}

// contentFacts is what one message's content says.
type contentFacts struct {
	hasAttachment bool
	from, subject string
}

// contents caches contentFacts for one query.
type contents struct {
	c     *call
	facts map[msgKey]contentFacts
}

func (cs *contents) get(msg store.Message) (contentFacts, error) {
	k := msgKey{msg.MailboxID, msg.UID}
	if f, ok := cs.facts[k]; ok {
		return f, nil
	}
	raw, err := cs.c.s.raw(cs.c.ctx, msgRefOf(msg))
	if err != nil {
		return contentFacts{}, err
	}
	root := parseParts(raw)
	f := contentFacts{hasAttachment: len(structure(root).attach) > 0}
	// "from": the name, else the email, of the first From address;
	// "subject": the base subject of RFC 5256 §2.1 (RFC 8621 §4.4.2).
	mh := gomail.Header{Header: root.Header}
	if list, err := mh.AddressList("From"); err == nil && len(list) > 0 {
		f.from = cmp.Or(list[0].Name, list[0].Address)
	}
	if s, err := root.Header.Text("Subject"); err == nil {
		f.subject = message.BaseSubject(s)
	}
	f.from, f.subject = strings.ToLower(f.from), strings.ToLower(f.subject)
	if cs.facts == nil {
		cs.facts = map[msgKey]contentFacts{}
	}
	cs.facts[k] = f
	return f, nil
}

// contentSort says whether the sort property needs the content.
func contentSort(prop string) bool { return prop == "from" || prop == "subject" }

// compare orders two messages by a content sort property.
func (cs *contents) compare(prop string, a, b store.Message) int {
	fa, _ := cs.get(a) // a message that cannot be read sorts as empty
	fb, _ := cs.get(b)
	if prop == "from" {
		return cmp.Compare(fa.from, fb.from)
	}
	return cmp.Compare(fa.subject, fb.subject)
}
