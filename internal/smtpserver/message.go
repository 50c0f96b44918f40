package smtpserver

import (
	"bytes"
	"context"
	"fmt"
	"golang.org/x/net/idna"
	"net/mail"
	"strings"
	"time"

	"pochta/internal/envelope"
	letter "pochta/internal/message"
	"pochta/internal/reply"
	"pochta/internal/spam"
)

var (
	errBareEOL  = reply.New(550, "5.6.0", "Message refused: bare CR or LF found, lines must end with CRLF (RFC 5321 §2.3.8)")
	errLongLine = reply.New(500, "5.5.2", "Message refused: line too long")
)

// finish ends a transaction whose content has been read completely: it
// checks and completes the message, delivers it and sends the one reply.
func (c *session) finish(tx *transaction, content []byte, res dataResult) error {
	var rerr *reply.Error
	switch {
	case res.TooBig:
		rerr = reply.ErrTooBig
	case res.BareEOL:
		rerr = errBareEOL
	case res.LongLine:
		rerr = errLongLine
	}
	size := len(content)
	if rerr != nil {
		c.logTx(tx, size, rerr.Error())
		return c.replyErr(rerr)
	}
	// RFC 5321 §6.3: a message that, with our Received, would carry more
	// Received fields than the hop limit is in a loop.
	if letter.Hops(content) >= c.s.limits.MaxHops {
		c.logTx(tx, size, reply.ErrTooManyHops.Error())
		return c.replyErr(reply.ErrTooManyHops)
	}
	now := time.Now()
	var header bytes.Buffer
	if c.s.opts.Mode == ModeSubmission {
		if rerr := c.checkFromHeader(content); rerr != nil {
			c.logTx(tx, size, rerr.Error())
			return c.replyErr(rerr)
		}
		// RFC 6409 §8.2, §8.3: the MSA may add a missing Message-ID and Date.
		if !hasHeader(content, "Message-ID") {
			fmt.Fprintf(&header, "Message-ID: <%s@%s>\r\n", newID()+newID(), c.s.opts.Hostname)
		}
		if !hasHeader(content, "Date") {
			fmt.Fprintf(&header, "Date: %s\r\n", now.Format(time.RFC1123Z))
		}
	}
	env := envelope.Envelope{
		From: tx.from, EnvID: tx.params.EnvID, Ret: tx.params.Ret,
		SMTPUTF8: tx.params.SMTPUTF8, EightBit: tx.params.EightBit, RequireTLS: tx.params.RequireTLS,
		RemoteIP: c.remote, Helo: c.helo, Received: now, ID: tx.id,
	}
	if c.account != nil {
		env.Authenticated = c.account.Address
	}
	if c.s.opts.Mode == ModeInbound {
		content = spam.StripSpamHeaders(content) // only we may say what is spam
	}
	j, content, rerr := c.judge(tx, env, content)
	if rerr != nil {
		c.logTx(tx, size, rerr.Error())
		return c.replyErr(rerr)
	}
	verdict := ""
	if c.judged() {
		if content, verdict, rerr = c.spamStep(tx, env, content, j.symbols, j.quarantine); rerr != nil {
			c.logTx(tx, size, rerr.Error())
			return c.replyErr(rerr)
		}
	}
	// On top: our Received, then Authentication-Results, then the spam
	// verdict (X-Spam-Score, X-Spam), then what the MSA adds.
	full := make([]byte, 0, len(content)+len(j.header)+len(verdict)+512)
	full = append(full, c.receivedHeader(tx, now)...)
	full = append(full, j.header...)
	full = append(full, verdict...)
	full = append(full, header.Bytes()...)
	full = append(full, content...)
	rerr = c.deliver(env, tx, full)
	if rerr != nil {
		c.logTx(tx, size, rerr.Error())
		return c.replyErr(rerr)
	}
	c.logTx(tx, size, "accepted")
	c.junk = 0 // a delivered message makes the session useful again (as Postfix)
	return c.reply(250, "2.0.0", "OK queued as "+tx.id)
}

// deliver stores the message for local recipients and queues it for remote
// ones, and returns the single reply to send (nil = 250). See the package
// comment for the rule on partial failures.
func (c *session) deliver(env envelope.Envelope, tx *transaction, content []byte) *reply.Error {
	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.limits.DataTimeout.Duration)
	defer cancel()
	var local, remote []envelope.Recipient
	for i, r := range tx.rcpts {
		if tx.isLocal[i] {
			local = append(local, r)
		} else {
			remote = append(remote, r)
		}
	}
	var failed []envelope.Recipient
	var firstErr *reply.Error
	ok := 0
	fail := func(r envelope.Recipient, err error) {
		failed = append(failed, r)
		if firstErr == nil {
			firstErr = reply.Or(err, reply.ErrLocal)
		}
	}
	if len(local) > 0 {
		e := env
		e.Recipients = local
		errs := c.s.opts.Local.Deliver(ctx, e, content)
		for i, r := range local {
			var err error
			if i < len(errs) {
				err = errs[i]
			}
			if err != nil {
				if _, isReply := reply.As(err); !isReply {
					c.s.log.Error("local delivery failed", "id", tx.id, "err", err)
				}
				fail(r, err)
			} else {
				ok++
			}
		}
	}
	if len(remote) > 0 {
		e := env
		e.Recipients = remote
		if _, err := c.s.opts.Queue.Enqueue(ctx, e, content); err != nil {
			c.s.log.Error("enqueue failed", "id", tx.id, "err", err)
			for _, r := range remote {
				fail(r, err)
			}
		} else {
			ok += len(remote)
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case ok == 0:
		return firstErr
	}
	// Some recipients have the message: hand the others to the queue,
	// which retries them and bounces them if they keep failing.
	if c.s.opts.Queue == nil {
		c.s.log.Error("partial delivery failure and no queue", "id", tx.id, "failed", len(failed))
		return reply.ErrLocal
	}
	e := env
	e.Recipients = failed
	if qid, err := c.s.opts.Queue.Enqueue(ctx, e, content); err != nil {
		c.s.log.Error("cannot queue failed recipients", "id", tx.id, "err", err)
		return reply.ErrLocal
	} else {
		c.s.log.Info("queued failed recipients for retry", "id", tx.id, "queue_id", qid, "rcpts", len(failed))
	}
	return nil
}

// receivedHeader builds the trace header of RFC 5321 §4.4 with the "with"
// protocol names of RFC 3848 (and RFC 6531 §3.7.3 for SMTPUTF8).
func (c *session) receivedHeader(tx *transaction, now time.Time) string {
	proto := "SMTP"
	if c.esmtp {
		proto = "ESMTP"
		if tx.params.SMTPUTF8 {
			proto = "UTF8SMTP"
		}
		if c.tls {
			proto += "S"
		}
		if c.account != nil {
			proto += "A"
		}
	}
	ip := c.remote.String()
	if c.remote.Is6() {
		ip = "IPv6:" + ip
	}
	helo := c.helo
	if !isASCII(helo) { // an EHLO U-label goes into the header as A-labels
		if a, err := idna.Lookup.ToASCII(helo); err == nil {
			helo = a
		} else {
			helo = "invalid"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s ([%s])\r\n\tby %s with %s id %s", helo, ip, c.s.opts.Hostname, proto, tx.id)
	if len(tx.rcpts) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", tx.rcpts[0].Address)
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", now.Format(time.RFC1123Z))
	return b.String()
}

// checkFromHeader enforces, on submission with EnforceSender, that every
// From: address belongs to the authenticated account.
func (c *session) checkFromHeader(content []byte) *reply.Error {
	opts := &c.s.opts
	if !opts.EnforceSender || c.account == nil {
		return nil
	}
	for _, v := range headerValues(content, "From") {
		list, err := mail.ParseAddressList(v)
		if err != nil || len(list) == 0 {
			return reply.New(550, "5.6.0", "Malformed From header")
		}
		for _, a := range list {
			ctx, cancel := c.opCtx()
			owned, err := opts.Local.OwnsAddress(ctx, *c.account, a.Address)
			cancel()
			if err != nil {
				c.s.log.Error("sender check failed", "err", err)
				return reply.ErrLocal
			}
			if !owned {
				return reply.New(553, "5.7.1", "From header address not owned by the authenticated user")
			}
		}
	}
	return nil
}

// headerSection returns the header part of a message (without the blank
// line that ends it).
func headerSection(content []byte) []byte {
	if bytes.HasPrefix(content, []byte("\r\n")) {
		return nil
	}
	if i := bytes.Index(content, []byte("\r\n\r\n")); i >= 0 {
		return content[:i+2]
	}
	return content
}

// headerValues returns the unfolded values of every header field name.
func headerValues(content []byte, name string) []string {
	var out []string
	var cur *strings.Builder
	for _, line := range strings.Split(string(headerSection(content)), "\r\n") {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur != nil {
				cur.WriteString(line)
			}
			continue
		}
		if cur != nil {
			out = append(out, strings.TrimSpace(cur.String()))
			cur = nil
		}
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimRight(k, " \t"), name) {
			cur = &strings.Builder{}
			cur.WriteString(v)
		}
	}
	if cur != nil {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

func hasHeader(content []byte, name string) bool {
	for _, line := range strings.Split(string(headerSection(content)), "\r\n") {
		k, _, ok := strings.Cut(line, ":")
		if ok && line != "" && line[0] != ' ' && line[0] != '\t' && strings.EqualFold(strings.TrimRight(k, " \t"), name) {
			return true
		}
	}
	return false
}
