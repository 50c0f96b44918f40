package queue

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"pochta/internal/envelope"
	"pochta/internal/message"
)

// finish sends the DSNs e owes (one for recipients that reached a final
// state, one delay warning) and removes e when every recipient is done.
// A DSN is queued before the recipients are marked reported, so a crash
// can repeat a DSN but never lose one.
func (q *Queue) finish(e *entry) {
	defer q.wg.Done()
	defer q.kick()
	now := q.now()

	q.mu.Lock()
	rec := e.rec
	env := rec.Envelope
	// A DSN goes to the reverse-path; the null one (RFC 5321 §4.5.5) and
	// one without a domain cannot receive it.
	bounceable := envelope.Domain(env.From) != ""
	var marked, final, delayed []int
	var nullFailed []string
	var redact []envelope.Recipient // REQUIRETLS DSN recipients REQUIRETLS failed for
	for i := range rec.Recipients {
		rs := &rec.Recipients[i]
		if rs.Status == StatusPending || rs.Reported {
			continue
		}
		rs.Reported = true
		marked = append(marked, i)
		kind := "SUCCESS"
		if rs.Status == StatusFailed {
			kind = "FAILURE"
			if !bounceable {
				nullFailed = append(nullFailed, rs.Address)
				if env.RequireTLSBounce && classStatus(*rs, "5") == requireTLSStatus {
					redact = append(redact, env.Recipients[i])
				}
			}
		}
		if bounceable && env.Recipients[i].WantsNotify(kind) {
			final = append(final, i)
		}
	}
	warned := false
	if q.delayDue(e, now) {
		rec.DelayWarned = true
		warned = true
		for i, rs := range rec.Recipients {
			if bounceable && rs.Status == StatusPending && rs.Attempts > 0 && env.Recipients[i].WantsNotify("DELAY") {
				delayed = append(delayed, i)
			}
		}
	}
	var finalDSN, delayDSN *dsnParams
	if len(final) > 0 {
		finalDSN = q.dsnParams(rec, final, now, false)
	}
	if len(delayed) > 0 {
		delayDSN = q.dsnParams(rec, delayed, now, true)
	}
	q.mu.Unlock()

	if len(nullFailed) > 0 {
		q.log.Warn("delivery failed for a message with a null sender; no DSN is sent (RFC 5321 §4.5.5)",
			"id", rec.ID, "from", env.From, "rcpts", strings.Join(nullFailed, ","))
		if redact != nil {
			q.sendRedacted(rec.ID, env, redact)
		}
	}
	failed := false
	if finalDSN != nil {
		if err := q.sendDSN(rec.ID, env, *finalDSN); err != nil {
			q.log.Error("cannot queue DSN", "id", rec.ID, "err", err)
			failed = true
			q.mu.Lock()
			for _, i := range marked {
				rec.Recipients[i].Reported = false
			}
			q.mu.Unlock()
		}
	}
	if delayDSN != nil {
		if err := q.sendDSN(rec.ID, env, *delayDSN); err != nil {
			q.log.Error("cannot queue delay DSN", "id", rec.ID, "err", err)
			failed = true
			q.mu.Lock()
			rec.DelayWarned = false
			q.mu.Unlock()
		}
	}
	q.mu.Lock()
	done := true
	for _, rs := range rec.Recipients {
		if rs.Status == StatusPending || !rs.Reported {
			done = false
		}
	}
	unsaved := e.unsaved
	q.mu.Unlock()
	// An entry about to be removed is not written first: a crash before
	// the removal repeats its DSN (never loses one) and re-delivers.
	if !done && (len(marked) > 0 || warned || unsaved) {
		q.persist(e)
	}

	q.mu.Lock()
	if failed {
		e.finishAfter = now.Add(q.opts.FirstRetry)
	}
	if !done {
		e.finishing = false
		q.schedule(e, now)
	}
	q.mu.Unlock()
	if done {
		q.removeNow(e, "all recipients done")
	} else {
		q.release(e)
	}
}

// dsnParams describes a DSN for recipients idx of rec. With delay set it
// is a delay warning. Called with q.mu held; Original is filled in by
// sendDSN.
func (q *Queue) dsnParams(rec *record, idx []int, now time.Time, delay bool) *dsnParams {
	env := rec.Envelope
	arrival := env.Received
	if arrival.IsZero() {
		arrival = rec.Created
	}
	p := &dsnParams{
		Hostname: q.opts.Hostname,
		To:       env.From,
		EnvID:    env.EnvID,
		Arrival:  arrival,
		Date:     now,
		// RFC 8689 §5: a REQUIRETLS message is bounced as if RET=HDRS,
		// RET=FULL disregarded.
		Full: strings.EqualFold(env.Ret, "FULL") && !env.RequireTLS,
	}
	for _, i := range idx {
		rs := rec.Recipients[i]
		r := dsnRecipient{
			Address:     rs.Address,
			ORcpt:       env.Recipients[i].ORcpt,
			RemoteMTA:   rs.RemoteMTA,
			LastAttempt: rs.LastAttempt,
		}
		if rs.Reply != nil {
			r.Diagnostic = rs.Reply.Error()
		}
		switch {
		case delay:
			r.Action = actionDelayed
			r.Status = classStatus(rs, "4")
			r.WillRetryUntil = rec.Created.Add(q.opts.Expire)
		case rs.Status == StatusFailed:
			r.Action = actionFailed
			r.Status = classStatus(rs, "5")
		case rs.Relayed:
			r.Action = actionRelayed // handed on to another MTA (RFC 3464 §2.3.3)
			r.Status = "2.0.0"
			r.Diagnostic = ""
		default:
			r.Action = actionDelivered
			r.Status = "2.0.0"
			r.Diagnostic = ""
		}
		p.Recipients = append(p.Recipients, r)
	}
	return p
}

// classStatus is the DSN Status of rs (RFC 3463): the explicit override,
// else the enhanced code of the last reply when its class fits, else
// class.0.0.
func classStatus(rs RecipientState, class string) string {
	if rs.DSNStatus != "" {
		return rs.DSNStatus
	}
	if rs.Reply != nil && strings.HasPrefix(rs.Reply.Enhanced, class+".") {
		return rs.Reply.Enhanced
	}
	return class + ".0.0"
}

// sendDSN builds the DSN and queues it to the original sender with the
// null reverse-path, so that it can never cause another DSN.
func (q *Queue) sendDSN(id string, orig envelope.Envelope, p dsnParams) error {
	var err error
	if p.Full {
		p.Original, err = q.sp.content(q.ctx, id)
	} else {
		p.Original, err = q.sp.header(q.ctx, id)
	}
	if err != nil {
		return err
	}
	mid, err := newID(p.Date)
	if err != nil {
		return err
	}
	p.MessageID = mid + ".dsn@" + q.opts.Hostname
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	p.Boundary = "=_dsn_" + hex.EncodeToString(rnd[:])
	content, err := q.sign(buildDSN(p))
	if err != nil {
		return err
	}
	env := envelope.Envelope{
		From:       "",
		Recipients: []envelope.Recipient{{Address: orig.From}},
		SMTPUTF8:   orig.SMTPUTF8,
		EightBit:   !isASCII(string(content)),
		Received:   p.Date,
		// RFC 8689 §5: the DSN of a REQUIRETLS message carries its
		// header, so it is protected as the message was.
		RequireTLS:       orig.RequireTLS,
		RequireTLSBounce: orig.RequireTLS,
	}
	dsnID, err := q.enqueue(q.ctx, env, content)
	if err != nil {
		return err
	}
	actions := make([]string, len(p.Recipients))
	for i, r := range p.Recipients {
		actions[i] = r.Address + "=" + r.Action
	}
	q.log.Info("DSN queued", "id", id, "dsn_id", dsnID, "to", orig.From, "rcpts", strings.Join(actions, ","))
	return nil
}

// requireTLSStatus is the enhanced status of a delivery REQUIRETLS
// could not be met for (RFC 8689 §4.2.1, §6: 5.7.30).
const requireTLSStatus = "5.7.30"

// sendRedacted queues, without REQUIRETLS, a redacted copy of the DSN id
// whose REQUIRETLS delivery failed for rcpts: the report without the
// returned header section of the original message, which is what
// REQUIRETLS protected (RFC 8689 §5: a non-delivery message goes with
// REQUIRETLS unless redacted). The copy is final: its own failure is
// only logged.
func (q *Queue) sendRedacted(id string, dsn envelope.Envelope, rcpts []envelope.Recipient) {
	content, err := q.sp.content(q.ctx, id)
	if err == nil {
		content, err = redactDSN(message.TrimTopFields(content, "DKIM-Signature"))
	}
	if err == nil {
		content, err = q.sign(content) // the old signature covered the removed part
	}
	if err != nil {
		q.log.Error("cannot redact the DSN of a REQUIRETLS message", "id", id, "err", err)
		return
	}
	env := dsn
	env.Recipients, env.RequireTLS, env.RequireTLSBounce = rcpts, false, false
	env.Received = q.now()
	rid, err := q.enqueue(q.ctx, env, content)
	if err != nil {
		q.log.Error("cannot queue the redacted DSN", "id", id, "err", err)
		return
	}
	q.log.Info("REQUIRETLS DSN undeliverable with REQUIRETLS; redacted copy queued without it", "id", id, "redacted_id", rid)
}

// sign DKIM-signs a message the queue wrote (a DSN) with the key of its
// From domain, MAILER-DAEMON@Hostname's, as submitted mail is signed:
// DMARC at the receiving end treats our bounces as it treats our mail.
func (q *Queue) sign(content []byte) ([]byte, error) {
	if q.opts.Signer == nil {
		return content, nil
	}
	signed, err := q.opts.Signer.Sign("", content)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	return signed, nil
}
