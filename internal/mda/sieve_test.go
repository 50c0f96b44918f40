package mda

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"pochta/internal/envelope"
	"pochta/internal/reply"
	"pochta/internal/store"
)

// recorder is the Forwarder at the MDA's boundary: it keeps what was
// queued so the test can check envelopes and contents.
type recorder struct {
	mu   sync.Mutex
	envs []envelope.Envelope
	msgs []string
}

func (r *recorder) Enqueue(ctx context.Context, env envelope.Envelope, content []byte) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.envs = append(r.envs, env)
	r.msgs = append(r.msgs, string(content))
	return "q1", nil
}

func sieveSetup(t *testing.T) (*fixture, *recorder) {
	f := setup(t)
	rec := &recorder{}
	f.d.SetForwarder(rec)
	f.d.SetSieve(f.st)
	return f, rec
}

func (f *fixture) setScript(t *testing.T, addr, script string) {
	t.Helper()
	ctx := context.Background()
	must(t, f.st.PutSieveScript(ctx, f.ids[addr], "main", script))
	must(t, f.st.ActivateSieveScript(ctx, f.ids[addr], "main"))
}

func (f *fixture) folder(t *testing.T, addr, name string) []string {
	t.Helper()
	ctx := context.Background()
	mb, err := f.st.GetMailbox(ctx, f.ids[addr], name)
	if err != nil {
		t.Fatalf("folder %s of %s: %v", name, addr, err)
	}
	var out []string
	uids, err := f.st.UIDs(ctx, mb.ID)
	must(t, err)
	for _, uid := range uids {
		r, err := f.st.Open(ctx, mb.ID, uid)
		must(t, err)
		b, _ := io.ReadAll(r)
		r.Close()
		out = append(out, string(b))
	}
	return out
}

func (f *fixture) send(t *testing.T, from string, to []string, msg string) []error {
	t.Helper()
	env := envelope.Envelope{From: from, ID: "t1"}
	for _, r := range to {
		env.Recipients = append(env.Recipients, envelope.Recipient{Address: r})
	}
	return f.d.Deliver(context.Background(), env, []byte(msg))
}

const plainMsg = "From: alice@remote.test\r\nTo: kate@a.test\r\nSubject: lunch\r\nMessage-ID: <l1@remote.test>\r\n\r\nAt noon?\r\n"

func noErrs(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("recipient %d: %v", i, err)
		}
	}
}

func TestSieveDefaultRuleFilesSpamIntoJunk(t *testing.T) {
	f, _ := sieveSetup(t)
	noErrs(t, f.send(t, "spammer@remote.test", []string{"kate@a.test"}, "X-Spam: Yes\r\nX-Spam-Score: 9.0 (GTUBE=9.0)\r\n"+plainMsg))
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, plainMsg))
	if junk, inbox := f.folder(t, "kate@a.test", "Junk"), f.inbox(t, "kate@a.test"); len(junk) != 1 || len(inbox) != 1 || strings.Contains(inbox[0], "X-Spam: Yes") {
		t.Fatalf("Junk %d, INBOX %d messages; want 1 and 1", len(junk), len(inbox))
	}
	// An account with its own script does not get the default rule.
	f.setScript(t, "john@a.test", "keep;")
	noErrs(t, f.send(t, "spammer@remote.test", []string{"john@a.test"}, "X-Spam: Yes\r\n"+plainMsg))
	if n := len(f.inbox(t, "john@a.test")); n != 1 {
		t.Fatalf("john's INBOX has %d messages, want 1", n)
	}
}

func TestSieveFileInto(t *testing.T) {
	f, _ := sieveSetup(t)
	f.setScript(t, "kate@a.test", `require ["fileinto", "imap4flags"];
if header :contains "subject" "lunch" { fileinto :flags "\\Flagged" "Archive"; }
elsif header :contains "subject" "report" { fileinto "Work/Reports"; }
`)
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, plainMsg))
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, strings.Replace(plainMsg, "lunch", "Q3 report", 1)))
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, strings.Replace(plainMsg, "lunch", "other", 1)))
	if n := len(f.folder(t, "kate@a.test", "Archive")); n != 1 {
		t.Errorf("Archive has %d messages", n)
	}
	if n := len(f.folder(t, "kate@a.test", "Work/Reports")); n != 1 { // created by the delivery
		t.Errorf("Work/Reports has %d messages", n)
	}
	if n := len(f.inbox(t, "kate@a.test")); n != 1 {
		t.Errorf("INBOX has %d messages", n)
	}
	ctx := context.Background()
	mb, err := f.st.GetMailbox(ctx, f.ids["kate@a.test"], "Archive")
	must(t, err)
	var flags []string
	must(t, f.st.Messages(ctx, mb.ID, nil, func(m store.Message) error { flags = m.Flags; return nil }))
	if len(flags) != 1 || flags[0] != `\Flagged` {
		t.Fatalf("Archive message flags %v, want [\\Flagged]", flags)
	}
}

func TestSieveFlagsAndInvalidFolder(t *testing.T) {
	f, _ := sieveSetup(t)
	f.setScript(t, "kate@a.test", `require ["fileinto", "imap4flags"]; addflag "$Important"; fileinto "bad//name";`)
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, plainMsg))
	// The folder name is invalid: the copy lands in INBOX, with its flag.
	ctx := context.Background()
	mb, err := f.st.GetMailbox(ctx, f.ids["kate@a.test"], "INBOX")
	must(t, err)
	var flags []string
	must(t, f.st.Messages(ctx, mb.ID, nil, func(m store.Message) error { flags = m.Flags; return nil }))
	if len(flags) != 1 || flags[0] != "$Important" {
		t.Fatalf("INBOX message flags %v, want [$Important]", flags)
	}
}

func TestSieveRejectAtDelivery(t *testing.T) {
	f, _ := sieveSetup(t)
	f.setScript(t, "kate@a.test", `require "reject"; if header :contains "subject" "lunch" { reject "I do not eat lunch."; }`)
	errs := f.send(t, "alice@remote.test", []string{"kate@a.test", "john@a.test"}, plainMsg)
	r, ok := reply.As(errs[0])
	if !ok || r.Code != 550 || r.Enhanced != "5.7.1" || !strings.Contains(r.Text, "I do not eat lunch.") {
		t.Fatalf("kate: %v, want 550 5.7.1 with the reason", errs[0])
	}
	if errs[1] != nil {
		t.Fatalf("john: %v", errs[1])
	}
	if len(f.inbox(t, "kate@a.test")) != 0 || len(f.inbox(t, "john@a.test")) != 1 {
		t.Fatal("reject stored a copy, or the other recipient lost his")
	}
}

func TestSieveRedirect(t *testing.T) {
	f, rec := sieveSetup(t)
	f.setScript(t, "kate@a.test", `redirect "kate.private@remote.test";`)
	f.setScript(t, "john@a.test", `require "copy"; redirect :copy "john@elsewhere.test";`)
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test", "john@a.test"}, plainMsg))
	if len(rec.envs) != 2 {
		t.Fatalf("%d enqueues, want 2 (one per account)", len(rec.envs))
	}
	for i, want := range []string{"kate@a.test>kate.private@remote.test", "john@a.test>john@elsewhere.test"} {
		env := rec.envs[i]
		if env.From != "alice@remote.test" || len(env.Recipients) != 1 || strings.Split(want, ">")[1] != env.Recipients[0].Address {
			t.Fatalf("forward %d: envelope from %q to %+v, want %s", i, env.From, env.Recipients, want)
		}
		if rec.msgs[i] != "X-Sieve-Redirected-From: <"+strings.Split(want, ">")[0]+">\r\n"+plainMsg {
			t.Fatalf("forwarded content is not the message with the trace mark:\n%s", rec.msgs[i])
		}
	}
	if len(f.inbox(t, "kate@a.test")) != 0 || len(f.inbox(t, "john@a.test")) != 1 {
		t.Fatal("redirect kept a copy, or :copy did not")
	}
}

func TestSieveRuntimeErrorKeeps(t *testing.T) {
	f, rec := sieveSetup(t)
	f.setScript(t, "kate@a.test", `redirect "a@x.test"; redirect "b@x.test"; redirect "c@x.test"; redirect "d@x.test"; redirect "e@x.test";`)
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, plainMsg))
	if len(f.inbox(t, "kate@a.test")) != 1 || len(rec.envs) != 0 {
		t.Fatalf("runtime error: INBOX %d, forwards %d; want the implicit keep only", len(f.inbox(t, "kate@a.test")), len(rec.envs))
	}
}

func TestSieveScriptChangeTakesEffect(t *testing.T) {
	f, _ := sieveSetup(t)
	f.setScript(t, "kate@a.test", `require "fileinto"; fileinto "One";`)
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, plainMsg))
	f.setScript(t, "kate@a.test", `require "fileinto"; fileinto "Two";`)
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, plainMsg))
	must(t, f.st.ActivateSieveScript(context.Background(), f.ids["kate@a.test"], ""))
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, plainMsg))
	if len(f.folder(t, "kate@a.test", "One")) != 1 || len(f.folder(t, "kate@a.test", "Two")) != 1 || len(f.inbox(t, "kate@a.test")) != 1 {
		t.Fatal("script changes were not picked up")
	}
}

func TestSieveVacation(t *testing.T) {
	f, rec := sieveSetup(t)
	f.setScript(t, "kate@a.test", `require "vacation"; vacation :days 7 :subject "Away" "Back next week.";`)
	// Twice from the same sender: one reply.
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, plainMsg))
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, plainMsg))
	// Another sender: a reply of its own.
	noErrs(t, f.send(t, "bob@remote.test", []string{"kate@a.test"}, strings.Replace(plainMsg, "alice@", "bob@", 1)))
	// Never to a list, to bulk mail, or to the null sender.
	noErrs(t, f.send(t, "carol@remote.test", []string{"kate@a.test"}, "List-Id: <x.lists.remote.test>\r\n"+plainMsg))
	noErrs(t, f.send(t, "dave@remote.test", []string{"kate@a.test"}, "Precedence: bulk\r\n"+plainMsg))
	noErrs(t, f.send(t, "", []string{"kate@a.test"}, plainMsg))
	if len(rec.envs) != 2 {
		t.Fatalf("%d vacation replies, want 2 (alice once, bob once)", len(rec.envs))
	}
	for i, to := range []string{"alice@remote.test", "bob@remote.test"} {
		env, msg := rec.envs[i], rec.msgs[i]
		if env.From != "" || len(env.Recipients) != 1 || env.Recipients[0].Address != to {
			t.Errorf("reply %d envelope from %q to %+v", i, env.From, env.Recipients)
		}
		for _, want := range []string{"Subject: Away\r\n", "Auto-Submitted: auto-replied", "In-Reply-To: <l1@remote.test>", "From: <kate@a.test>", "Back next week."} {
			if !strings.Contains(msg, want) {
				t.Errorf("reply %d lacks %q:\n%s", i, want, msg)
			}
		}
	}
	if n := len(f.inbox(t, "kate@a.test")); n != 6 {
		t.Fatalf("INBOX has %d messages, want all 6", n)
	}
}

func TestSieveVacationFromMustBeOwn(t *testing.T) {
	f, rec := sieveSetup(t)
	f.setScript(t, "kate@a.test", `require "vacation"; vacation :from "The CEO <ceo@bank.test>" "Send money.";`)
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, plainMsg))
	f.setScript(t, "john@a.test", `require "vacation"; vacation :from "Team <team@a.test>" "Away.";`)
	noErrs(t, f.send(t, "alice@remote.test", []string{"john@a.test"}, strings.Replace(plainMsg, "To: kate@a.test", "To: john@a.test", 1)))
	if len(rec.msgs) != 2 {
		t.Fatalf("%d replies, want 2", len(rec.msgs))
	}
	if !strings.Contains(rec.msgs[0], "From: <kate@a.test>\r\n") || strings.Contains(rec.msgs[0], "bank.test") {
		t.Errorf("a foreign :from was used:\n%s", rec.msgs[0])
	}
	if !strings.Contains(rec.msgs[1], "From: <team@a.test>\r\n") { // an alias that delivers to john
		t.Errorf("john's own alias was not used as :from:\n%s", rec.msgs[1])
	}
}

// loopback hands forwarded mail to local addresses straight back to the
// Deliverer, as the real queue does for local recipients.
type loopback struct {
	d     *Deliverer
	count int
}

func (l *loopback) Enqueue(ctx context.Context, env envelope.Envelope, content []byte) (string, error) {
	l.count++
	if l.count > 50 {
		return "", fmt.Errorf("mail loop: %d forwards", l.count)
	}
	for _, err := range l.d.Deliver(ctx, env, content) {
		if err != nil {
			return "", err
		}
	}
	return fmt.Sprint("q", l.count), nil
}

func TestSieveRedirectLoopIsBroken(t *testing.T) {
	f := setup(t)
	f.d.SetSieve(f.st)
	lb := &loopback{d: f.d}
	f.d.SetForwarder(lb)
	f.setScript(t, "kate@a.test", `redirect "john@a.test";`)
	f.setScript(t, "john@a.test", `redirect "kate@a.test";`)
	noErrs(t, f.send(t, "alice@remote.test", []string{"kate@a.test"}, plainMsg))
	// kate -> john -> kate: the second visit to kate keeps the message.
	if lb.count != 2 || len(f.inbox(t, "kate@a.test")) != 1 || len(f.inbox(t, "john@a.test")) != 0 {
		t.Fatalf("forwards %d, kate %d, john %d; want 2, 1, 0", lb.count, len(f.inbox(t, "kate@a.test")), len(f.inbox(t, "john@a.test")))
	}
}

func TestSieveRejectThroughAlias(t *testing.T) {
	f, _ := sieveSetup(t)
	f.setScript(t, "kate@a.test", `require "reject"; reject "Not me.";`)
	// team@a.test reaches kate and john: john takes it, so the recipient
	// succeeds (a retry would duplicate john's copy); kate gets none.
	noErrs(t, f.send(t, "alice@remote.test", []string{"team@a.test"}, plainMsg))
	if len(f.inbox(t, "kate@a.test")) != 0 || len(f.inbox(t, "john@a.test")) != 1 {
		t.Fatal("alias delivery with one rejecting account went wrong")
	}
	f.setScript(t, "john@a.test", `require "ereject"; ereject "Nor me.";`)
	errs := f.send(t, "alice@remote.test", []string{"team@a.test"}, plainMsg)
	if r, ok := reply.As(errs[0]); !ok || r.Code != 550 {
		t.Fatalf("every account rejected: %v, want 550", errs[0])
	}
}
