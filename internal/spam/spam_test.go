package spam

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"pochta/internal/checks"
	"pochta/internal/envelope"
	"pochta/internal/store"
	"pochta/internal/store/sqlite"
)

const normalMsg = "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: Lunch\r\n" +
	"Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nLunch at noon?\r\n"

func testEnv() envelope.Envelope {
	return envelope.Envelope{
		From: "alice@example.com", Recipients: []envelope.Recipient{{Address: "bob@example.org"}},
		RemoteIP: netip.MustParseAddr("192.0.2.1"), Helo: "mail.example.com", ID: "T1",
	}
}

func TestHeaders(t *testing.T) {
	cases := []struct {
		v    Verdict
		want string
	}{
		{Verdict{Score: 0}, "X-Spam-Score: 0.0\r\n"},
		{Verdict{Score: -0.04}, "X-Spam-Score: 0.0\r\n"},
		{Verdict{Action: Junk, Score: 7.2, Symbols: []checks.Symbol{{Name: "SPF_FAIL", Score: 3}, {Name: "ZERO", Score: 0}, {Name: "BAYES_SPAM", Score: 4.2}}},
			"X-Spam-Score: 7.2 (SPF_FAIL=3.0 BAYES_SPAM=4.2)\r\nX-Spam: Yes\r\n"},
		{Verdict{Score: 1, Symbols: []checks.Symbol{{Name: "BAD\r\nX-Spam: Yes", Score: 1}}},
			"X-Spam-Score: 1.0 (BADX-SpamYes=1.0)\r\n"},
		{Verdict{Score: -1, Symbols: []checks.Symbol{{Name: "DKIM_ALIGNED", Score: -1}}},
			"X-Spam-Score: -1.0 (DKIM_ALIGNED=-1.0)\r\n"},
	}
	for _, c := range cases {
		if got := c.v.Headers(); got != c.want {
			t.Errorf("Headers(%+v) = %q, want %q", c.v, got, c.want)
		}
	}
	// A long list folds, and every line stays within 78 characters.
	var v Verdict
	for i := 0; i < 20; i++ {
		v.Symbols = append(v.Symbols, checks.Symbol{Name: fmt.Sprintf("SYMBOL_NUMBER_%d", i), Score: 0.5})
	}
	h := v.Headers()
	lines := strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n")
	if len(lines) < 3 {
		t.Fatalf("long header not folded: %q", h)
	}
	for i, l := range lines {
		if len(l) > maxHeaderLine {
			t.Errorf("line %d longer than %d: %q", i, maxHeaderLine, l)
		}
		if i > 0 && !strings.HasPrefix(l, "\t") {
			t.Errorf("continuation line %d not folded with a tab: %q", i, l)
		}
	}
	if !strings.HasSuffix(lines[len(lines)-1], "SYMBOL_NUMBER_19=0.5)") {
		t.Errorf("last line = %q", lines[len(lines)-1])
	}
}

func TestStripSpamHeaders(t *testing.T) {
	cases := []struct{ in, want string }{
		{normalMsg, normalMsg},
		{"X-Spam: Yes\r\nSubject: a\r\n\r\nX-Spam: body stays\r\n", "Subject: a\r\n\r\nX-Spam: body stays\r\n"},
		{"Subject: a\r\nx-spam-score: 1.0 (A=1.0\r\n\tB=2.0)\r\nX-SPAM : yes\r\nFrom: b\r\n\r\nbody\r\n", "Subject: a\r\nFrom: b\r\n\r\nbody\r\n"},
		{"X-Spam-Status: kept\r\nX-Spammer: kept\r\n\r\n", "X-Spam-Status: kept\r\nX-Spammer: kept\r\n\r\n"},
		{"X-Spam: Yes\r\n", ""},
		{"", ""},
	}
	for _, c := range cases {
		if got := string(StripSpamHeaders([]byte(c.in))); got != c.want {
			t.Errorf("StripSpamHeaders(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestContentSymbols(t *testing.T) {
	names := func(content string) string {
		var out []string
		for _, s := range contentSymbols([]byte(content)) {
			out = append(out, s.Name)
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	cases := []struct{ msg, want string }{
		{normalMsg, ""},
		{"Subject: hi\r\n\r\nbody\r\n", "FROM_INVALID MISSING_DATE MISSING_MID"},
		{"From: nobody\r\nDate: x\r\nMessage-ID: <a@b>\r\nSubject: hello there\r\n\r\n", "FROM_INVALID"},
		{"From: a@b.example\r\nFrom: c@d.example\r\nDate: x\r\nMessage-ID: <a@b>\r\nSubject: x\r\n\r\n", "FROM_INVALID"},
		{"From: a@b.example\r\nDate: x\r\nMessage-ID: <a@b>\r\nSubject: \r\n\r\n", "EMPTY_SUBJECT"},
		{"From: a@b.example\r\nDate: x\r\nMessage-ID: <a@b>\r\nSubject: FREE MONEY FOR YOU NOW\r\n\r\n", "SUBJ_ALL_CAPS"},
		{"From: a@b.example\r\nDate: x\r\nMessage-ID: <a@b>\r\nSubject: =?utf-8?q?FREE_MONEY_F=C3=9CR_YOU?=\r\n\r\n", "SUBJ_ALL_CAPS"},
		{"From: a@b.example\r\nDate: x\r\nMessage-ID: <a@b>\r\nSubject: FYI OK\r\n\r\n", ""},
		{"From: \"Bob\" <bob@example.org>\r\nDate: x\r\nMessage-ID: <a@b>\r\nSubject: Re: plan\r\n\r\n", ""},
	}
	for _, c := range cases {
		if got := names(c.msg); got != c.want {
			t.Errorf("contentSymbols(%q) = %q, want %q", c.msg, got, c.want)
		}
	}
}

func TestClassifyThresholds(t *testing.T) {
	f := New(Options{JunkScore: 5, RejectScore: 15})
	ctx := context.Background()
	cases := []struct {
		name    string
		msg     string
		symbols []checks.Symbol
		action  Action
		score   float64
	}{
		{"clean", normalMsg, nil, Accept, 0},
		{"good signs", normalMsg, []checks.Symbol{{Name: "DKIM_ALIGNED", Score: -1}}, Accept, -1},
		{"below junk", normalMsg, []checks.Symbol{{Name: "SPF_SOFTFAIL", Score: 4.9}}, Accept, 4.9},
		{"at junk", normalMsg, []checks.Symbol{{Name: "SPF_FAIL", Score: 3}, {Name: "IPREV_FAIL", Score: 2}}, Junk, 5},
		{"content adds up", "Subject: x\r\n\r\nbody\r\n", []checks.Symbol{{Name: "SPF_FAIL", Score: 3}}, Junk, 5.5},
		{"at reject", normalMsg, []checks.Symbol{{Name: "DMARC_FAIL", Score: 10}, {Name: "DNSBL_X", Score: 5}}, Reject, 15},
		{"gtube", strings.Replace(normalMsg, "Lunch at noon?", gtube, 1), nil, Reject, 15},
		{"gtube beats good signs", strings.Replace(normalMsg, "Lunch at noon?", "x "+gtube+" y", 1), []checks.Symbol{{Name: "DKIM_ALIGNED", Score: -1}}, Reject, 14},
	}
	for _, c := range cases {
		v, err := f.Classify(ctx, testEnv(), []byte(c.msg), c.symbols)
		if err != nil {
			t.Fatal(err)
		}
		if v.Action != c.action || v.Score != c.score {
			t.Errorf("%s: verdict %s (%v), want %s %.1f", c.name, v, v.Symbols, c.action, c.score)
		}
		if (v.Action == Reject) != (v.Reply != nil) || (v.Reply != nil && (v.Reply.Code != 550 || v.Reply.Enhanced != "5.7.1")) {
			t.Errorf("%s: reply %v for action %s", c.name, v.Reply, v.Action)
		}
		if len(c.symbols) > 0 && !hasSymbol(v, c.symbols[0].Name) {
			t.Errorf("%s: the checks' symbols are not in the verdict: %v", c.name, v.Symbols)
		}
	}
	st := f.Stats()
	if st.Classified != int64(len(cases)) || st.Rejected != 3 || st.Junked != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestParseRspamdReply(t *testing.T) {
	cases := []struct {
		in     string
		action Action
		score  float64
		reply  string
		syms   string
		bad    bool
	}{
		{in: `{"is_skipped":true,"score":15.0,"required_score":15.0,"action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":0.0}},"messages":{"smtp_message":"Gtube pattern"}}`,
			action: Reject, score: 15, reply: "550 5.7.1 Gtube pattern"},
		{in: `{"score":3.5,"required_score":15,"action":"no action","symbols":{"RDNS_NONE":{"score":1.0},"HFILTER_HOSTNAME_UNKNOWN":{"score":2.5},"MIME_GOOD":{"score":-0.1},"ZERO":{"score":0}}}`,
			action: Accept, score: 3.5, syms: "HFILTER_HOSTNAME_UNKNOWN=2.5 RDNS_NONE=1.0 MIME_GOOD=-0.1"},
		{in: `{"score":7,"action":"add header"}`, action: Junk, score: 7},
		{in: `{"score":9,"action":"rewrite subject"}`, action: Junk, score: 9},
		{in: `{"score":4,"action":"soft reject"}`, action: Defer, score: 4, reply: "451 4.7.1 Try again later"},
		{in: `{"score":4,"action":"greylist","messages":{"smtp_message":"Try again\r\nlater"}}`, action: Defer, score: 4, reply: "451 4.7.1 Try againlater"},
		{in: `{"score":20,"action":"reject","messages":{"smtp_message":42}}`, action: Reject, score: 20, reply: "550 5.7.1 Message refused as spam (score 20.0)"},
		{in: `{"score":1,"action":"discard"}`, bad: true},
		{in: `{"score":"x","action":"reject"}`, bad: true},
		{in: `not json`, bad: true},
		{in: `{}`, bad: true},
		{in: `[]`, bad: true},
	}
	for _, c := range cases {
		r, err := parseRspamdReply([]byte(c.in))
		if c.bad {
			if err == nil {
				t.Errorf("parseRspamdReply(%s) accepted", c.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseRspamdReply(%s): %v", c.in, err)
			continue
		}
		v := r.verdict()
		got := ""
		if v.Reply != nil {
			got = v.Reply.Error()
		}
		var syms []string
		for _, s := range v.Symbols {
			syms = append(syms, s.Name+"="+formatScore(s.Score))
		}
		if v.Action != c.action || v.Score != c.score || got != c.reply || strings.Join(syms, " ") != c.syms {
			t.Errorf("%s: verdict %s reply %q symbols %v", c.in, v, got, syms)
		}
	}
}

// TestRspamdFallback: an Rspamd that answers garbage, errors or too slowly
// is not trusted: the built-in score decides and the fallback is counted.
func TestRspamdFallback(t *testing.T) {
	block := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/bad/checkv2", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) })
	mux.HandleFunc("/err/checkv2", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "broken", 500) })
	mux.HandleFunc("/slow/checkv2", func(w http.ResponseWriter, r *http.Request) { <-block })
	var got http.Header
	mux.HandleFunc("/ok/checkv2", func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Write([]byte(`{"score":6.5,"action":"add header","symbols":{"X":{"score":6.5}}}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(block) // before srv.Close, which waits for the slow handler
	env := testEnv()
	env.Recipients = append(env.Recipients, envelope.Recipient{Address: "carol@example.org"})
	for i, path := range []string{"/bad", "/err", "/slow"} {
		f := New(Options{RspamdURL: srv.URL + path + "/", RspamdTimeout: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		v, err := f.Classify(context.Background(), env, []byte("Subject: x\r\n\r\nbody\r\n"), []checks.Symbol{{Name: "SPF_FAIL", Score: 3}})
		if err != nil {
			t.Fatal(err)
		}
		if v.Action != Junk || v.Score != 5.5 {
			t.Errorf("%s: verdict %s, want the built-in junk 5.5", path, v)
		}
		if st := f.Stats(); st.RspamdFallbacks != 1 || st.RspamdChecked != 0 {
			t.Errorf("%s: stats %+v (case %d)", path, st, i)
		}
	}
	f := New(Options{RspamdURL: srv.URL + "/ok"})
	v, err := f.Classify(context.Background(), env, []byte(normalMsg), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Action != Junk || v.Score != 6.5 || f.Stats().RspamdChecked != 1 {
		t.Errorf("rspamd verdict %s, stats %+v", v, f.Stats())
	}
	if got.Get("IP") != "192.0.2.1" || got.Get("Helo") != "mail.example.com" || got.Get("From") != "alice@example.com" ||
		strings.Join(got.Values("Rcpt"), ",") != "bob@example.org,carol@example.org" || got.Get("Queue-Id") != "T1" || got.Get("User") != "" {
		t.Errorf("request headers %v", got)
	}
}

// storeRecipients resolves recipients by account address (the app uses the
// MDA's full alias resolution).
type storeRecipients struct{ st store.Directory }

func (r storeRecipients) AccountFor(ctx context.Context, addr string) (int64, bool, error) {
	a, err := r.st.GetAccount(ctx, addr)
	if err != nil {
		return 0, false, nil
	}
	return a.ID, true, nil
}

// openStore opens a real sqlite store with one account.
func openStore(t testing.TB, addr string) (*sqlite.Store, store.Account) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, addr[strings.IndexByte(addr, '@')+1:]); err != nil {
		t.Fatal(err)
	}
	a, err := st.AddAccount(ctx, addr, "$argon2id$x")
	if err != nil {
		t.Fatal(err)
	}
	return st, a
}

// Corpus reads the labelled test corpus: testdata/corpus/{spam,ham}/*.eml.
func corpus(t testing.TB, kind string) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", kind, "*.eml"))
	if err != nil || len(files) < 60 {
		t.Fatalf("corpus %s: %d files, %v", kind, len(files), err)
	}
	sort.Strings(files)
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestBayes trains the classifier directly on 40 spam and 40 ham
// messages of the corpus and classifies the rest.
func TestBayes(t *testing.T) {
	ctx := context.Background()
	st, acct := openStore(t, "user@example.org")
	f := New(Options{Store: st, Recipients: storeRecipients{st}})
	spamMsgs, hamMsgs := corpus(t, "spam"), corpus(t, "ham")
	env := testEnv()
	env.Recipients = []envelope.Recipient{{Address: "nobody@example.net"}, {Address: "user@example.org"}}
	// Untrained: no Bayes symbol.
	if v, _ := f.Classify(ctx, env, spamMsgs[0], nil); hasSymbol(v, "BAYES_SPAM") || hasSymbol(v, "BAYES_HAM") {
		t.Fatalf("untrained classifier gave %v", v.Symbols)
	}
	const train = 40
	for i := 0; i < train; i++ {
		if err := f.Train(ctx, acct.ID, strings.NewReader(string(spamMsgs[i])), true, false); err != nil {
			t.Fatal(err)
		}
		if err := f.Train(ctx, acct.ID, strings.NewReader(string(hamMsgs[i])), false, false); err != nil {
			t.Fatal(err)
		}
	}
	right, total := 0, 0
	for _, set := range []struct {
		msgs [][]byte
		want Action
	}{{spamMsgs[train:], Junk}, {hamMsgs[train:], Accept}} {
		for _, m := range set.msgs {
			v, err := f.Classify(ctx, env, m, nil)
			if err != nil {
				t.Fatal(err)
			}
			total++
			if v.Action == set.want {
				right++
			} else {
				t.Logf("misclassified (%s, want %s): %s", v, set.want, v.Headers())
			}
		}
	}
	acc := float64(right) / float64(total)
	t.Logf("built-in classifier, trained directly on %d+%d: %d/%d held-out messages right (accuracy %.1f%%)", train, train, right, total, 100*acc)
	if acc < 0.9 {
		t.Fatalf("accuracy %.2f below 0.90", acc)
	}
}

func hasSymbol(v Verdict, name string) bool {
	for _, s := range v.Symbols {
		if s.Name == name {
			return true
		}
	}
	return false
}

func TestTokens(t *testing.T) {
	msg := "From: Deals <deals@Promo.Example>\r\nSubject: =?utf-8?q?Gro=C3=9Fe_Angebote?=\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Cheap pills =E2=82=AC99 e-mail x y ab\r\n--b\r\nContent-Type: text/html\r\n\r\n<html><style>.hidden{color:red}</style><b>Winner</b> <!-- secret --> bonus&nbsp;cash</html>\r\n" +
		"--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\naW1hZ2VkYXRh\r\n--b--\r\n"
	got := Tokens([]byte(msg))
	want := []string{"s:große", "s:angebote", "f:promo.example", "cheap", "pills", "e-mail", "winner", "bonus", "cash"}
	for _, w := range want {
		if !contains(got, w) {
			t.Errorf("token %q missing from %q", w, got)
		}
	}
	for _, bad := range []string{"hidden", "color", "secret", "html", "aw1hz2vkyxrh", "ab"} {
		if contains(got, bad) {
			t.Errorf("token %q should not be in %q", bad, got)
		}
	}
	// Bounded: a huge message gives at most maxTokens tokens.
	var b strings.Builder
	b.WriteString("Subject: big\r\n\r\n")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, "word%d ", i)
	}
	if n := len(Tokens([]byte(b.String()))); n != maxTokens {
		t.Errorf("%d tokens from a huge message, want %d", n, maxTokens)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
