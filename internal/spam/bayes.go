package spam

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"mime"
	"sort"
	"strings"
	"unicode"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"

	"pochta/internal/checks"
	"pochta/internal/envelope"
)

// Limits of the tokeniser: a message contributes at most maxTokens
// distinct tokens, read from at most maxTextBytes of decoded text, so a
// huge message costs no more than a normal one.
const (
	maxTokens    = 1500
	maxTextBytes = 256 << 10
	maxReadBytes = 4 << 20 // of raw content, for training
	minWordLen   = 3
	maxWordLen   = 24 // runes; longer "words" are base64 or URLs
)

// Robinson's parameters (Gary Robinson, "A Statistical Approach to the
// Spam Problem", 2003), as SpamBayes uses them.
const (
	robinsonS     = 1.0 // strength of the prior
	robinsonX     = 0.5 // prior probability of an unknown token
	minDeviation  = 0.1 // tokens with |p-0.5| below this are ignored
	maxDiscrimins = 150 // at most this many most extreme tokens are combined
)

// Weights of the Bayes symbols at certainty; lower probabilities weigh
// proportionally less.
const (
	bayesSpamMax = 5.5 // alone above the default junk_score of 5
	bayesHamMax  = 3.0
)

// Tokens returns the distinct tokens of a message: the words of its
// Subject (prefixed "s:") and of its text parts (HTML without tags),
// lower-cased, plus the From domain ("f:example.com"). Parts are decoded
// (transfer encoding, charset) with go-message; a broken MIME structure
// yields the tokens read so far.
func Tokens(content []byte) []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if len(out) < maxTokens && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	h := parseHeader(content)
	for _, s := range h.values("Subject") {
		words(decodeHeader(s), func(w string) { add("s:" + w) })
	}
	for _, f := range h.values("From") {
		if at := strings.LastIndexByte(f, '@'); at >= 0 {
			d := strings.ToLower(strings.TrimRight(f[at+1:], "> \t"))
			if d != "" && len(d) < 64 {
				add("f:" + d)
			}
		}
	}
	budget := maxTextBytes
	e, err := message.Read(bytes.NewReader(content))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return out // an unknown charset or encoding still leaves text to read
	}
	_ = e.Walk(func(path []int, part *message.Entity, err error) error {
		if err != nil || budget <= 0 {
			return nil
		}
		t, _, _ := part.Header.ContentType()
		if t == "" {
			t = "text/plain" // RFC 2045 §5.2
		}
		if !strings.HasPrefix(t, "text/") {
			return nil
		}
		b, _ := io.ReadAll(io.LimitReader(part.Body, int64(budget)))
		budget -= len(b)
		text := string(b)
		if t == "text/html" {
			text = stripTags(text)
		}
		words(text, func(w string) { add(w) })
		return nil
	})
	return out
}

// words calls fn for each word of s: runs of letters and digits (with
// hyphens, apostrophes, dollar and percent signs kept, as in "$99" or
// "e-mail"),
// lower-cased, of minWordLen..maxWordLen runes.
func words(s string, fn func(string)) {
	isWord := func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '$' || r == '%' || r == '\'' || r == '-'
	}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return !isWord(r) }) {
		f = strings.Trim(f, "-'")
		n := len([]rune(f))
		if n < minWordLen || n > maxWordLen {
			continue
		}
		fn(strings.ToLower(f))
	}
}

// stripTags removes HTML tags, comments, and the content of <style> and
// <script> elements (which is not text the reader sees).
func stripTags(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		b.WriteByte(' ')
		s = s[i:]
		lower := strings.ToLower(s[:min(len(s), 8)])
		end := ">"
		switch {
		case strings.HasPrefix(lower, "<!--"):
			end = "-->"
		case strings.HasPrefix(lower, "<style"):
			end = "</style>"
		case strings.HasPrefix(lower, "<script"):
			end = "</script>"
		}
		j := strings.Index(strings.ToLower(s), end)
		if j < 0 {
			break
		}
		s = s[j+len(end):]
	}
	return strings.NewReplacer("&nbsp;", " ", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`).Replace(b.String())
}

// decodeHeader decodes RFC 2047 encoded words; undecodable text is kept.
func decodeHeader(s string) string {
	d := mime.WordDecoder{CharsetReader: charset.Reader}
	if out, err := d.DecodeHeader(s); err == nil {
		return out
	}
	return s
}

// spamProbability combines per-token probabilities with Fisher's method
// as SpamBayes does (chi-square of -2 Σ ln p): 1 is spam, 0 ham, 0.5
// unknown. totals are the trained message counts (both > 0).
func spamProbability(tokens []string, totSpam, totHam float64, count func(string) (spam, ham float64)) (float64, int) {
	var ps []float64
	for _, t := range tokens {
		s, h := count(t)
		if s+h == 0 {
			continue
		}
		sr, hr := s/totSpam, h/totHam
		p := sr / (sr + hr)
		n := s + h
		f := (robinsonS*robinsonX + n*p) / (robinsonS + n)
		if math.Abs(f-0.5) >= minDeviation {
			ps = append(ps, f)
		}
	}
	if len(ps) == 0 {
		return 0.5, 0
	}
	sort.Slice(ps, func(i, j int) bool { return math.Abs(ps[i]-0.5) > math.Abs(ps[j]-0.5) })
	if len(ps) > maxDiscrimins {
		ps = ps[:maxDiscrimins]
	}
	var lnSpam, lnHam float64
	for _, p := range ps {
		p = math.Min(math.Max(p, 1e-6), 1-1e-6)
		lnHam += math.Log(p)
		lnSpam += math.Log(1 - p)
	}
	n := len(ps)
	hamminess := chi2Q(-2*lnHam, 2*n)   // near 0 when the tokens are spammy
	spamminess := chi2Q(-2*lnSpam, 2*n) // near 0 when the tokens are hammy
	return (1 + hamminess - spamminess) / 2, n
}

// chi2Q is the probability that a chi-square variable with v (even)
// degrees of freedom exceeds x2.
func chi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	term := math.Exp(-m)
	sum := term
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return math.Min(sum, 1)
}

// bayesSymbol turns a spam probability into BAYES_SPAM or BAYES_HAM; ok
// is false in the uncertain middle.
func bayesSymbol(p float64, n int) (checks.Symbol, bool) {
	detail := fmt.Sprintf("probability %.3f from %d tokens", p, n)
	switch {
	case p >= 0.6:
		return checks.Symbol{Name: "BAYES_SPAM", Score: round1(math.Min(bayesSpamMax, bayesSpamMax*(p-0.5)/0.45)), Detail: detail}, true
	case p <= 0.4:
		return checks.Symbol{Name: "BAYES_HAM", Score: -round1(math.Min(bayesHamMax, bayesHamMax*(0.5-p)/0.45)), Detail: detail}, true
	}
	return checks.Symbol{}, false
}

// bayes classifies content with the counts of the first recipient that is
// a local account (see the package comment).
func (f *Filter) bayes(ctx context.Context, env envelope.Envelope, content []byte) (checks.Symbol, bool, error) {
	for _, r := range env.Recipients {
		id, ok, err := f.opts.Recipients.AccountFor(ctx, r.Address)
		if err != nil {
			return checks.Symbol{}, false, err
		}
		if ok {
			p, n, trained, err := f.Probability(ctx, id, content)
			if err != nil || !trained {
				return checks.Symbol{}, false, err
			}
			s, ok := bayesSymbol(p, n)
			return s, ok, nil
		}
	}
	return checks.Symbol{}, false, nil
}

// Probability is the account's Bayesian spam probability of content and
// the number of tokens it rests on; trained is false (and p 0.5) while the
// account has fewer than MinTrain spam or ham messages trained.
func (f *Filter) Probability(ctx context.Context, accountID int64, content []byte) (p float64, n int, trained bool, err error) {
	if f.opts.Store == nil {
		return 0.5, 0, false, nil
	}
	toks := Tokens(content)
	totals, counts, err := f.opts.Store.SpamTokens(ctx, accountID, toks)
	if err != nil {
		return 0.5, 0, false, err
	}
	if totals.Spam < f.opts.MinTrain || totals.Ham < f.opts.MinTrain {
		return 0.5, 0, false, nil
	}
	p, n = spamProbability(toks, float64(totals.Spam), float64(totals.Ham), func(t string) (float64, float64) {
		c := counts[t]
		return float64(c.Spam), float64(c.Ham)
	})
	return p, n, true, nil
}

// Train adds one message to the account's spam (or ham) counts; with undo
// it takes back an earlier training of that class. At most 4 MiB of the
// content are read.
func (f *Filter) Train(ctx context.Context, accountID int64, content io.Reader, spam, undo bool) error {
	if f.opts.Store == nil {
		return fmt.Errorf("spam: no store for the classifier")
	}
	b, err := io.ReadAll(io.LimitReader(content, maxReadBytes))
	if err != nil {
		return err
	}
	return f.opts.Store.TrainSpam(ctx, accountID, Tokens(b), spam, undo)
}
