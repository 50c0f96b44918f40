package spam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"

	"pochta/internal/checks"
	"pochta/internal/envelope"
	"pochta/internal/reply"
)

// maxRspamdReply bounds the JSON reply read from Rspamd.
const maxRspamdReply = 1 << 20

// rspamdReply is the part of Rspamd's /checkv2 reply pochta uses
// (https://rspamd.com/doc/developers/protocol.html).
type rspamdReply struct {
	Action        string  `json:"action"`
	Score         float64 `json:"score"`
	RequiredScore float64 `json:"required_score"`
	Symbols       map[string]struct {
		Score float64 `json:"score"`
	} `json:"symbols"`
	Messages map[string]json.RawMessage `json:"messages"`
}

// rspamdActions maps Rspamd's actions to pochta's.
var rspamdActions = map[string]Action{
	"no action":       Accept,
	"add header":      Junk,
	"rewrite subject": Junk,
	"reject":          Reject,
	"soft reject":     Defer,
	"greylist":        Defer,
}

// parseRspamdReply reads and checks a /checkv2 reply: a JSON object with a
// known action and finite scores.
func parseRspamdReply(data []byte) (rspamdReply, error) {
	var r rspamdReply
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("rspamd reply: %w", err)
	}
	if _, ok := rspamdActions[r.Action]; !ok {
		return r, fmt.Errorf("rspamd reply: unknown action %q", cleanText(r.Action))
	}
	if !finite(r.Score) || !finite(r.RequiredScore) {
		return r, errors.New("rspamd reply: score is not a finite number")
	}
	for name, s := range r.Symbols {
		if !finite(s.Score) {
			return r, fmt.Errorf("rspamd reply: symbol %q score is not a finite number", cleanText(name))
		}
	}
	return r, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// verdict turns a reply into a Verdict: Rspamd's action, score and every
// symbol that carries weight, weightiest first.
func (r rspamdReply) verdict() Verdict {
	v := Verdict{Action: rspamdActions[r.Action], Score: round1(r.Score)}
	for name, s := range r.Symbols {
		if s.Score != 0 {
			v.Symbols = append(v.Symbols, checks.Symbol{Name: name, Score: round1(s.Score), Detail: "rspamd"})
		}
	}
	sortSymbols(v.Symbols)
	text := ""
	if raw, ok := r.Messages["smtp_message"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			text = cleanText(s)
		}
	}
	switch v.Action {
	case Reject:
		if text == "" {
			text = "Message refused as spam (score " + formatScore(v.Score) + ")"
		}
		v.Reply = reply.New(550, "5.7.1", "%s", text)
	case Defer:
		if text == "" {
			text = "Try again later"
		}
		v.Reply = reply.New(451, "4.7.1", "%s", text)
	}
	return v
}

// cleanText keeps printable ASCII of foreign text that goes into a reply
// or a log line, at most 200 characters.
func cleanText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 200 {
			break
		}
		if r >= ' ' && r <= '~' {
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// rspamd asks Rspamd's normal worker about the message, with the envelope
// in request headers (IP, Helo, From, Rcpt, User, Queue-Id) so that its
// SPF, DMARC and greylisting see what the SMTP server saw.
func (f *Filter) rspamd(ctx context.Context, env envelope.Envelope, content []byte) (Verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.RspamdTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.opts.RspamdURL+"/checkv2", bytes.NewReader(content))
	if err != nil {
		return Verdict{}, err
	}
	if env.RemoteIP.IsValid() {
		req.Header.Set("IP", env.RemoteIP.String())
	}
	if env.Helo != "" {
		req.Header.Set("Helo", env.Helo)
	}
	if env.From != "" {
		req.Header.Set("From", env.From)
	}
	for _, r := range env.Recipients {
		req.Header.Add("Rcpt", r.Address)
	}
	if env.Authenticated != "" {
		req.Header.Set("User", env.Authenticated)
	}
	if env.ID != "" {
		req.Header.Set("Queue-Id", env.ID)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return Verdict{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRspamdReply))
	if err != nil {
		return Verdict{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Verdict{}, fmt.Errorf("rspamd: HTTP %d: %s", resp.StatusCode, cleanText(string(body)))
	}
	r, err := parseRspamdReply(body)
	if err != nil {
		return Verdict{}, err
	}
	return r.verdict(), nil
}
