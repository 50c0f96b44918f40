// Package spam is the receiving MTA's spam judgement (issue 8, points 2
// and 3): it adds up the sender-authentication symbols of internal/checks,
// a few content checks, GTUBE and a per-account Bayesian classifier into
// one score, and turns the score into an Action against two thresholds
// (junk_score, reject_score). When an Rspamd server is configured it asks
// Rspamd instead (HTTP /checkv2) and follows Rspamd's action; when Rspamd
// cannot be reached the built-in score decides, the fallback is logged and
// counted (Stats), and the mail is never lost.
//
// The Bayesian classifier is per account. A message with several local
// recipients is classified with the counts of the FIRST recipient that
// resolves to a local account (one verdict per message: the SMTP reply and
// the X-Spam header are per message, not per recipient). Counts are
// trained from the user's own actions in IMAP (moving into or out of Junk,
// $Junk/$NotJunk) and by `pochta spam train`; they are not used until the
// account has at least MinTrain spam and MinTrain ham messages.
package spam

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"pochta/internal/checks"
	"pochta/internal/envelope"
	"pochta/internal/reply"
	"pochta/internal/store"
)

// Action is what happens to a message.
type Action int

const (
	Accept Action = iota // deliver as addressed (INBOX)
	Junk                 // deliver with "X-Spam: Yes" (the MDA files it into Junk)
	Reject               // 550 5.7.1 at the end of data, nothing stored
	Defer                // 451 4.7.1: try again later (Rspamd soft reject/greylist)
)

func (a Action) String() string {
	switch a {
	case Junk:
		return "junk"
	case Reject:
		return "reject"
	case Defer:
		return "defer"
	}
	return "accept"
}

// Verdict is the spam judgement of one message.
type Verdict struct {
	Action  Action
	Score   float64
	Symbols []checks.Symbol // every symbol that made the score (the checks' ones and the content/Bayes/Rspamd ones)
	Reply   *reply.Error    // for Reject (550 5.7.1) and Defer (451 4.7.1)
}

// maxHeaderLine is where Headers folds X-Spam-Score (RFC 5322 §2.1.1
// recommends lines of at most 78 characters).
const maxHeaderLine = 78

// Headers renders "X-Spam-Score: 7.2 (SPF_FAIL=3.0 BAYES_SPAM=4.2)\r\n"
// and, when Action is Junk, "X-Spam: Yes\r\n". Symbols with a zero score
// are left out; long lists are folded (RFC 5322 §2.2.3). Symbol names are
// reduced to letters, digits, '_' and '-' (Rspamd's come from outside).
func (v Verdict) Headers() string {
	var b strings.Builder
	line := "X-Spam-Score: " + formatScore(v.Score)
	var parts []string
	for _, s := range v.Symbols {
		if s.Score == 0 {
			continue
		}
		if name := cleanName(s.Name); name != "" {
			parts = append(parts, name+"="+formatScore(s.Score))
		}
	}
	for i, p := range parts {
		if i == 0 {
			p = "(" + p
		}
		if i == len(parts)-1 {
			p += ")"
		}
		if len(line)+1+len(p) > maxHeaderLine {
			b.WriteString(line + "\r\n")
			line = "\t" + p
		} else {
			line += " " + p
		}
	}
	b.WriteString(line + "\r\n")
	if v.Action == Junk {
		b.WriteString("X-Spam: Yes\r\n")
	}
	return b.String()
}

func formatScore(f float64) string {
	s := strconv.FormatFloat(f, 'f', 1, 64)
	if s == "-0.0" {
		s = "0.0"
	}
	return s
}

func cleanName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 64 {
			break
		}
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Recipients maps a recipient address to the local account that receives
// it (aliases, subaddresses and catch-all resolved); ok false when none.
type Recipients interface {
	AccountFor(ctx context.Context, addr string) (accountID int64, ok bool, err error)
}

// Options configure a Filter.
type Options struct {
	JunkScore   float64 // at or above: Junk
	RejectScore float64 // at or above: Reject
	// RspamdURL is the base URL of Rspamd's normal worker; "" uses the
	// built-in classifier only.
	RspamdURL     string
	RspamdTimeout time.Duration // default 10 s
	// Store holds the Bayesian counts; nil disables the classifier.
	Store      store.SpamStore
	Recipients Recipients
	// MinTrain is how many spam and how many ham messages an account must
	// have trained before its classifier is used (default 10).
	MinTrain int64
	Logger   *slog.Logger
}

// Stats are counters the app may log or export.
type Stats struct {
	Classified      int64 // messages judged
	RspamdChecked   int64 // judged by Rspamd
	RspamdFallbacks int64 // Rspamd failed: the built-in score decided
	Rejected        int64
	Junked          int64
	Deferred        int64
}

// Filter judges messages. It is safe for concurrent use.
type Filter struct {
	opts   Options
	log    *slog.Logger
	client *http.Client
	stats  struct {
		classified, rspamd, fallbacks, rejected, junked, deferred atomic.Int64
	}
}

// New returns a Filter; zero thresholds take 5 and 15.
func New(opts Options) *Filter {
	if opts.JunkScore == 0 {
		opts.JunkScore = 5
	}
	if opts.RejectScore == 0 {
		opts.RejectScore = 15
	}
	if opts.RspamdTimeout <= 0 {
		opts.RspamdTimeout = 10 * time.Second
	}
	if opts.MinTrain <= 0 {
		opts.MinTrain = 10
	}
	opts.RspamdURL = strings.TrimRight(opts.RspamdURL, "/")
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Filter{opts: opts, log: log, client: &http.Client{Timeout: opts.RspamdTimeout}}
}

// Stats returns the counters since New.
func (f *Filter) Stats() Stats {
	return Stats{
		Classified:      f.stats.classified.Load(),
		RspamdChecked:   f.stats.rspamd.Load(),
		RspamdFallbacks: f.stats.fallbacks.Load(),
		Rejected:        f.stats.rejected.Load(),
		Junked:          f.stats.junked.Load(),
		Deferred:        f.stats.deferred.Load(),
	}
}

// Classify judges one message from outside. symbols are the findings of
// the sender-authentication checks; they are part of the built-in score.
// With Rspamd configured and answering, Rspamd's action, score and symbols
// are the verdict. An error is returned only when nothing could be judged;
// the caller then delivers without a verdict.
func (f *Filter) Classify(ctx context.Context, env envelope.Envelope, content []byte, symbols []checks.Symbol) (Verdict, error) {
	v, err := f.classify(ctx, env, content, symbols)
	if err != nil {
		return v, err
	}
	f.stats.classified.Add(1)
	switch v.Action {
	case Reject:
		f.stats.rejected.Add(1)
	case Junk:
		f.stats.junked.Add(1)
	case Defer:
		f.stats.deferred.Add(1)
	}
	return v, nil
}

func (f *Filter) classify(ctx context.Context, env envelope.Envelope, content []byte, symbols []checks.Symbol) (Verdict, error) {
	if f.opts.RspamdURL != "" {
		v, err := f.rspamd(ctx, env, content)
		if err == nil {
			f.stats.rspamd.Add(1)
			return v, nil
		}
		f.stats.fallbacks.Add(1)
		f.log.Warn("rspamd unavailable, using the built-in score", "id", env.ID, "err", err, "fallbacks", f.stats.fallbacks.Load())
	}
	syms := append([]checks.Symbol(nil), symbols...)
	gtube := hasGTUBE(content)
	if gtube {
		syms = append(syms, checks.Symbol{Name: "GTUBE", Score: f.opts.RejectScore, Detail: "GTUBE test string"})
	}
	syms = append(syms, contentSymbols(content)...)
	if f.opts.Store != nil && f.opts.Recipients != nil && !gtube {
		s, ok, err := f.bayes(ctx, env, content)
		if err != nil {
			f.log.Warn("bayes classifier failed", "id", env.ID, "err", err)
		} else if ok {
			syms = append(syms, s)
		}
	}
	sortSymbols(syms)
	var score float64
	for _, s := range syms {
		score += s.Score
	}
	score = round1(score)
	v := Verdict{Score: score, Symbols: syms}
	switch {
	case gtube || score >= f.opts.RejectScore:
		v.Action = Reject
		v.Reply = reply.New(550, "5.7.1", "Message refused as spam (score %s)", formatScore(score))
	case score >= f.opts.JunkScore:
		v.Action = Junk
	}
	return v, nil
}

func round1(f float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 1, 64), 64)
	return r
}

// sortSymbols orders symbols by falling |score|, then name, so the
// header shows the weightiest first.
func sortSymbols(syms []checks.Symbol) {
	sort.SliceStable(syms, func(i, j int) bool {
		a, b := abs(syms[i].Score), abs(syms[j].Score)
		if a != b {
			return a > b
		}
		return syms[i].Name < syms[j].Name
	})
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// String is for logs: "junk 7.2".
func (v Verdict) String() string { return fmt.Sprintf("%s %s", v.Action, formatScore(v.Score)) }
