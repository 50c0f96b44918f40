package mda

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"sync"
	"time"

	"pochta/internal/envelope"
	"pochta/internal/message"
	"pochta/internal/reply"
	"pochta/internal/sieve"
	"pochta/internal/store"
)

// Sieve filtering in the MDA. For every delivery into an account the
// account's active Sieve script (or sieve.DefaultScript when it has none)
// decides where the message goes. The actions become, in this order:
//
//  1. reject/ereject: nothing is stored or sent for that account, and the
//     recipient fails with 550 5.7.1 and the reason when every account it
//     reaches rejected (an alias that another account took succeeds, so a
//     retry cannot duplicate the stored copies). At SMTP time the client
//     gets the 550 when every recipient refused; when other recipients
//     took the message, the SMTP server queues the refused one and the
//     queue's retry refuses again, which makes the DSN to the sender that
//     RFC 5429 §2.1 asks for (never to the null sender: the queue does not
//     bounce to <>).
//  2. redirect: handed to the forwarding path (forwardTo, the same one
//     aliases to remote addresses use) before anything is stored, so a
//     queue failure is a temporary error with nothing stored yet. The
//     only duplicate possible is a redirect queued again when the store
//     then fails and the sender retries; a message is never lost.
//  3. keep/fileinto: store.Target values (mailbox + imap4flags flags),
//     stored with all other accounts' targets in one store.Deliver.
//  4. vacation: after the message is stored, at most one reply per sender
//     and handle per period (recorded in the store), sent with the null
//     sender through the queue. A failure there is logged, never turned
//     into an error: the message is already delivered.
//
// A script that fails at run time gives the implicit keep (RFC 5228
// §2.10.6) and a log line.
//
// Redirect loops (two accounts redirecting to each other, or a chain
// coming back) are broken with a trace field, as Pigeonhole does: each
// redirected copy gets "X-Sieve-Redirected-From: <account>" on top, and a
// message that already carries this account's mark, or maxRedirectHops
// marks, is kept instead of redirected again.

// redirectMark is the trace field added to redirected copies.
const redirectMark = "X-Sieve-Redirected-From"

// maxRedirectHops bounds how often one message may be redirected.
const maxRedirectHops = 8

// redirect is one account's redirect targets.
type redirect struct {
	account string
	to      []string
}

// maxCachedScripts bounds the parsed-script cache.
const maxCachedScripts = 10000

type cachedScript struct {
	content string
	script  *sieve.Script
}

type sieveCache struct {
	mu      sync.Mutex
	scripts map[int64]cachedScript
	def     *sieve.Script
}

// SetSieve gives the Deliverer the store of Sieve scripts. Without it
// every account uses sieve.DefaultScript.
func (d *Deliverer) SetSieve(ss store.SieveStore) { d.sieveStore = ss }

// script returns the parsed active script of an account, from the cache
// when its text has not changed, or the default rule.
func (d *Deliverer) script(ctx context.Context, accountID int64) (*sieve.Script, string) {
	d.sieves.mu.Lock()
	if d.sieves.def == nil {
		d.sieves.def, _ = sieve.Parse(sieve.DefaultScript)
		d.sieves.scripts = map[int64]cachedScript{}
	}
	def := d.sieves.def
	d.sieves.mu.Unlock()
	if d.sieveStore == nil {
		return def, "default"
	}
	sc, err := d.sieveStore.ActiveSieveScript(ctx, accountID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			d.log.Error("sieve: loading script, using the default rule", "account", accountID, "err", err)
		}
		return def, "default"
	}
	d.sieves.mu.Lock()
	defer d.sieves.mu.Unlock()
	if c, ok := d.sieves.scripts[accountID]; ok && c.content == sc.Content {
		return c.script, sc.Name
	}
	s, err := sieve.Parse(sc.Content)
	if err != nil { // stored scripts were checked; an old one may not parse any more
		d.log.Error("sieve: active script does not parse, using the default rule", "account", accountID, "script", sc.Name, "err", err)
		return def, "default"
	}
	if len(d.sieves.scripts) >= maxCachedScripts {
		clear(d.sieves.scripts)
	}
	d.sieves.scripts[accountID] = cachedScript{content: sc.Content, script: s}
	return s, sc.Name
}

// plan is what the script decided for one account.
type plan struct {
	targets   []store.Target
	redirects []string
	vacation  *sieve.Vacation
	reject    *reply.Error
}

// filter runs the account's script for the delivery to rcpt.
func (d *Deliverer) filter(ctx context.Context, env envelope.Envelope, acct store.Account, rcpt string, content []byte) plan {
	s, name := d.script(ctx, acct.ID)
	res := s.Run(&sieve.Input{From: env.From, To: rcpt, Content: content, MailboxExists: func(mb string) bool {
		_, err := d.mail.GetMailbox(ctx, acct.ID, mb)
		return err == nil
	}})
	if res.Err != nil {
		d.log.Warn("sieve: runtime error, keeping the message", "id", env.ID, "account", acct.Address, "script", name, "err", res.Err)
	}
	var p plan
	seen := map[string]int{}
	add := func(mailbox string, flags []string) {
		if strings.EqualFold(mailbox, "INBOX") {
			mailbox = "INBOX"
		}
		if i, dup := seen[mailbox]; dup { // RFC 5228 §4.2: the same folder once
			for _, f := range flags {
				if !containsFold(p.targets[i].Flags, f) {
					p.targets[i].Flags = append(p.targets[i].Flags, f)
				}
			}
			return
		}
		seen[mailbox] = len(p.targets)
		p.targets = append(p.targets, store.Target{AccountID: acct.ID, Mailbox: mailbox, Flags: flags})
	}
	for _, a := range res.Actions {
		switch a.Kind {
		case sieve.ActKeep:
			add("INBOX", a.Flags)
		case sieve.ActFileInto:
			add(a.Mailbox, a.Flags)
		case sieve.ActRedirect:
			p.redirects = append(p.redirects, a.Address)
		case sieve.ActVacation:
			p.vacation = a.Vacation
		case sieve.ActReject:
			p.reject = reply.New(550, "5.7.1", "%s", rejectText(a.Reason))
		}
	}
	if p.reject != nil {
		return plan{reject: p.reject}
	}
	if len(p.redirects) > 0 && d.forward == nil {
		d.log.Warn("sieve: redirect without a forwarder, keeping the message", "id", env.ID, "account", acct.Address)
		p.redirects = nil
		add("INBOX", nil)
	}
	if len(p.redirects) > 0 && redirectLoop(content, acct.Address) {
		d.log.Warn("sieve: redirect loop, keeping the message", "id", env.ID, "account", acct.Address)
		p.redirects = nil
		add("INBOX", nil)
	}
	return p
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// rejectText makes a reject reason fit an SMTP reply line.
func rejectText(reason string) string {
	var b strings.Builder
	for _, r := range reason {
		switch {
		case r == '\r' || r == '\n' || r == '\t':
			r = ' '
		case r < 0x20 || r > 0x7e:
			r = '?'
		}
		b.WriteRune(r)
		if b.Len() >= 200 {
			break
		}
	}
	s := strings.Join(strings.Fields(b.String()), " ")
	if s == "" {
		s = "Message rejected by the recipient's filter"
	}
	return s
}

// sendVacation sends a vacation reply when RFC 5230's rules allow it and
// none went to this sender within the period.
func (d *Deliverer) sendVacation(ctx context.Context, env envelope.Envelope, acct store.Account, rcpt string, content []byte, v *sieve.Vacation) {
	own := append([]string{acct.Address, rcpt}, v.Addresses...)
	if ok, why := sieve.VacationAllowed(env.From, content, own); !ok {
		d.log.Info("sieve: vacation not sent", "id", env.ID, "account", acct.Address, "why", why)
		return
	}
	if d.forward == nil {
		d.log.Warn("sieve: vacation without a queue", "id", env.ID, "account", acct.Address)
		return
	}
	if d.sieveStore != nil {
		already, err := d.sieveStore.VacationSent(ctx, acct.ID, env.From, v.Handle, v.Period)
		if err != nil {
			d.log.Error("sieve: vacation record", "id", env.ID, "account", acct.Address, "err", err)
			return
		}
		if already {
			d.log.Info("sieve: vacation already sent in this period", "id", env.ID, "account", acct.Address, "to", env.From)
			return
		}
	}
	from := rcpt
	if v.From != "" {
		// :from must be one of the account's own addresses: a reply
		// must not carry a From the user does not own.
		a, err := mail.ParseAddress(v.From)
		if ok, _ := d.OwnsAddress(ctx, acct, addrOf(a, err)); ok {
			from = a.Address
		} else {
			d.log.Warn("sieve: vacation :from is not the account's address, using the recipient", "id", env.ID, "account", acct.Address, "from", v.From)
		}
	}
	msg := v.Reply(content, env.From, from, envelope.Domain(acct.Address), time.Now())
	eight := false
	for _, c := range msg {
		if c >= 0x80 {
			eight = true
			break
		}
	}
	if d.signer != nil { // as mail our users send: DMARC at the sender's end
		signed, err := d.signer.Sign("", msg) // the From domain, ours
		if err != nil {
			d.log.Error("sieve: signing vacation reply", "id", env.ID, "account", acct.Address, "err", err)
			return
		}
		msg = signed
	}
	// RFC 5230 §5.1: the reply goes out with the null sender.
	out := envelope.Envelope{From: "", Recipients: []envelope.Recipient{{Address: env.From}}, Received: time.Now(), ID: env.ID + ".vacation", EightBit: eight}
	id, err := d.forward.Enqueue(ctx, out, msg)
	if err != nil {
		d.log.Error("sieve: queueing vacation reply", "id", env.ID, "account", acct.Address, "err", err)
		return
	}
	d.log.Info("sieve: vacation reply queued", "id", env.ID, "account", acct.Address, "to", env.From, "queue_id", id)
}

// vacations sends the vacation replies of the accounts whose copy was
// delivered (errs nil for all their recipients).
func (d *Deliverer) vacations(ctx context.Context, env envelope.Envelope, accounts []store.Account, rcptOf map[int64]string, owners map[int64][]int, errs []error, plans map[int64]plan, content []byte) {
	for _, a := range accounts {
		p, ok := plans[a.ID]
		if !ok {
			continue
		}
		delivered := true
		for _, i := range owners[a.ID] {
			if errs[i] != nil {
				delivered = false
			}
		}
		if delivered {
			d.sendVacation(ctx, env, a, rcptOf[a.ID], content, p.vacation)
		}
	}
}

// inboxFallback replaces targets whose mailbox does not exist (and could
// not be created) by INBOX, merging duplicates.
func inboxFallback(ctx context.Context, mail store.Mailstore, targets []store.Target) []store.Target {
	var out []store.Target
	seen := map[int64]map[string]bool{}
	for _, t := range targets {
		if t.Mailbox != "" && t.Mailbox != "INBOX" {
			if _, err := mail.GetMailbox(ctx, t.AccountID, t.Mailbox); err != nil {
				t.Mailbox = "INBOX"
			}
		}
		if seen[t.AccountID] == nil {
			seen[t.AccountID] = map[string]bool{}
		}
		if seen[t.AccountID][t.Mailbox] {
			continue
		}
		seen[t.AccountID][t.Mailbox] = true
		out = append(out, t)
	}
	return out
}

func addrOf(a *mail.Address, err error) string {
	if err != nil {
		return ""
	}
	return a.Address
}

// redirectLoop reports whether the message was already redirected by
// account, or too often.
func redirectLoop(content []byte, account string) bool {
	marks := message.Parse(content).HeaderValues(redirectMark)
	if len(marks) >= maxRedirectHops {
		return true
	}
	for _, m := range marks {
		if strings.EqualFold(strings.Trim(strings.TrimSpace(m), "<>"), account) {
			return true
		}
	}
	return false
}

// forwardAll hands alias targets elsewhere (the message as it came) and
// each account's Sieve redirects (with the account's trace mark) to the
// forwarding path.
func (d *Deliverer) forwardAll(ctx context.Context, env envelope.Envelope, remote []envelope.Recipient, redirects []redirect, content []byte) error {
	if len(remote) > 0 {
		if err := d.forwardTo(ctx, env, remote, content); err != nil {
			return err
		}
	}
	for _, r := range redirects {
		rcpts := make([]envelope.Recipient, len(r.to))
		for i, a := range r.to {
			rcpts[i] = envelope.Recipient{Address: a}
		}
		marked := append([]byte(redirectMark+": <"+r.account+">\r\n"), content...)
		if err := d.forwardTo(ctx, env, rcpts, marked); err != nil {
			return err
		}
	}
	return nil
}

// rejectRecipients fails the recipients whose every account rejected the
// message. A recipient that reaches several accounts (an alias) and was
// taken by one of them is not failed: a retry would duplicate the copies
// already stored; the rejecting account just gets none.
func rejectRecipients(errs []error, accounts []store.Account, owners map[int64][]int, rejected map[int64]*reply.Error) {
	if len(rejected) == 0 {
		return
	}
	taken := map[int]bool{}
	first := map[int]*reply.Error{}
	for _, a := range accounts { // in order, so the first reason is stable
		for _, i := range owners[a.ID] {
			if r, ok := rejected[a.ID]; ok {
				if first[i] == nil {
					first[i] = r
				}
			} else {
				taken[i] = true
			}
		}
	}
	for i, r := range first {
		if !taken[i] && errs[i] == nil {
			errs[i] = r
		}
	}
}
