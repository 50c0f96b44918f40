package imapserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"pochta/internal/envelope"
	"pochta/internal/spam"
	"pochta/internal/store"
)

// accountByAddress resolves recipients to accounts by address (the app
// uses the MDA's alias resolution).
type accountByAddress struct{ st store.Directory }

func (r accountByAddress) AccountFor(ctx context.Context, addr string) (int64, bool, error) {
	a, err := r.st.GetAccount(ctx, addr)
	if err != nil {
		return 0, false, nil
	}
	return a.ID, true, nil
}

// readCorpus reads internal/spam's labelled corpus (spam or ham), sorted.
func readCorpus(t *testing.T, kind string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "spam", "testdata", "corpus", kind, "*.eml"))
	if err != nil || len(files) < 60 {
		t.Fatalf("corpus %s: %d files, %v", kind, len(files), err)
	}
	sort.Strings(files)
	out := make([]string, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

// TestSpamTrainingByMove trains the built-in classifier only through IMAP:
// spam delivered to INBOX is moved into Junk, ham that landed in Junk is
// moved out to INBOX. Moving a message back and forth counts it once, in
// its latest class; moving spam from Junk to Trash teaches nothing. Then
// the classifier judges messages it has never seen.
func TestSpamTrainingByMove(t *testing.T) {
	ctx := context.Background()
	trainer := &lateTrainer{}
	e := newEnv(t, envOptions{trainer: trainer})
	filter := spam.New(spam.Options{Store: e.st, Recipients: accountByAddress{e.st}})
	trainer.f.Store(filter)
	spamMsgs, hamMsgs := readCorpus(t, "spam"), readCorpus(t, "ham")
	const train = 40
	for i := 0; i < train; i++ {
		e.deliver("", spamMsgs[i])
		e.deliver("Junk", hamMsgs[i])
	}
	c := e.login()
	c.ok("SELECT INBOX")
	c.ok("UID MOVE 1:* Junk") // 40 spam into Junk
	c.ok("SELECT Junk")
	// Junk holds ham UIDs 1-40 and the spam as UIDs 41-80.
	c.ok("UID MOVE 1:40 INBOX") // 40 ham out of Junk
	// A spam message moved out by mistake and back: still one spam.
	c.ok("UID MOVE 41 INBOX")
	c.ok("SELECT INBOX")
	lines := c.ok("UID SEARCH KEYWORD $NotJunk")
	if !has(lines, "* SEARCH") || len(strings.Fields(lines[0])) != 2+train+1 { // the ham and the mistaken spam
		t.Fatalf("INBOX messages marked $NotJunk: %q", lines)
	}
	c.ok("UID MOVE 81 Junk") // the mistaken spam, back (UIDs 41-80 are the ham)
	c.ok("SELECT Junk")
	lines = c.ok("UID FETCH 42 FLAGS")
	if !has(lines, "$Junk") || has(lines, "$NotJunk") {
		t.Fatalf("spam in Junk flags: %q", lines)
	}
	// Into Trash: no lesson.
	c.ok("UID COPY 42 Trash")
	c.ok("UID MOVE 43 Trash")
	ss := store.SpamStore(e.st)
	totals, _, err := ss.SpamTokens(ctx, e.acct.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if totals != (store.TokenCounts{Spam: train, Ham: train}) {
		t.Fatalf("trained %+v, want %d spam and %d ham", totals, train, train)
	}
	// $NotJunk set by STORE retrains a spam message as ham, once.
	c.ok("UID STORE 44 +FLAGS ($NotJunk)")
	c.ok("UID STORE 44 +FLAGS ($NotJunk)")
	lines = c.ok("UID FETCH 44 FLAGS")
	if has(lines, "$Junk") || !has(lines, "$NotJunk") {
		t.Fatalf("flags after $NotJunk: %q", lines)
	}
	if totals, _, _ = ss.SpamTokens(ctx, e.acct.ID, nil); totals != (store.TokenCounts{Spam: train - 1, Ham: train + 1}) {
		t.Fatalf("after STORE $NotJunk: %+v", totals)
	}
	c.ok("UID STORE 44 +FLAGS ($Junk)") // and back to spam
	if totals, _, _ = ss.SpamTokens(ctx, e.acct.ID, nil); totals != (store.TokenCounts{Spam: train, Ham: train}) {
		t.Fatalf("after STORE $Junk: %+v", totals)
	}

	env := envelope.Envelope{From: "x@example.net", Recipients: []envelope.Recipient{{Address: "alice@example.org"}}}
	right, total := 0, 0
	for _, set := range []struct {
		msgs []string
		want spam.Action
	}{{spamMsgs[train:], spam.Junk}, {hamMsgs[train:], spam.Accept}} {
		for _, m := range set.msgs {
			v, err := filter.Classify(ctx, env, []byte(m), nil)
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
	t.Logf("classifier trained only by IMAP MOVE (%d spam into Junk, %d ham out of Junk): %d/%d held-out messages right, accuracy %.1f%%", train, train, right, total, 100*acc)
	if acc < 0.9 {
		t.Fatalf("accuracy %.2f below 0.90", acc)
	}
}

// lateTrainer is the filter, set once the store it needs is open.
type lateTrainer struct{ f atomic.Pointer[spam.Filter] }

func (l *lateTrainer) Train(ctx context.Context, accountID int64, content io.Reader, spam, undo bool) error {
	return l.f.Load().Train(ctx, accountID, content, spam, undo)
}

// recordingTrainer records what it is taught; with fail set it refuses.
type recordingTrainer struct {
	mu     sync.Mutex
	lesson []string
	fail   bool
}

func (r *recordingTrainer) Train(ctx context.Context, accountID int64, content io.Reader, spam, undo bool) error {
	b, err := io.ReadAll(content)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("trainer broken")
	}
	subject := strings.TrimSpace(strings.SplitN(strings.SplitN(string(b), "Subject:", 2)[1], "\r\n", 2)[0])
	r.lesson = append(r.lesson, fmt.Sprintf("%s spam=%v undo=%v", subject, spam, undo))
	return nil
}

func (r *recordingTrainer) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.lesson
	r.lesson = nil
	return out
}

// TestSpamTrainingCopyAndFlags: COPY into Junk teaches spam, a COPY out of
// Junk teaches nothing (the message stays in Junk), STORE $Junk/$NotJunk
// teach once and undo the other class, removing a keyword teaches nothing,
// and a failing trainer never fails the command.
func TestSpamTrainingCopyAndFlags(t *testing.T) {
	tr := &recordingTrainer{}
	e := newEnv(t, envOptions{trainer: tr})
	e.deliver("", testMessage(1, "one"))
	e.deliver("", testMessage(2, "two"))
	e.deliver("Junk", testMessage(3, "three"))
	c := e.login()
	c.ok("SELECT INBOX")
	c.ok("UID COPY 1 Junk")
	c.ok("UID STORE 2 +FLAGS ($Junk)")
	c.ok("UID STORE 2 +FLAGS.SILENT ($Junk)") // already spam: nothing more
	c.ok("UID STORE 2 FLAGS ($NotJunk)")
	c.ok("UID STORE 2 -FLAGS ($NotJunk)")
	c.ok("UID STORE 1 +FLAGS ($Junk $NotJunk)") // contradictory: nothing
	c.ok("SELECT Junk")
	c.ok("UID COPY 1 INBOX")
	got := strings.Join(tr.take(), "; ")
	want := "one spam=true undo=false; two spam=true undo=false; two spam=true undo=true; two spam=false undo=false"
	if got != want {
		t.Fatalf("lessons:\n%s\nwant\n%s", got, want)
	}
	lines := c.ok("UID FETCH 2 FLAGS") // the copy of "one" in Junk
	if !has(lines, "$Junk") {
		t.Fatalf("copy in Junk not marked $Junk: %q", lines)
	}
	tr.mu.Lock()
	tr.fail = true
	tr.mu.Unlock()
	c.ok("UID MOVE 1 INBOX") // "three" out of Junk: the trainer fails, MOVE does not
	c.ok("SELECT INBOX")
	lines = c.ok("UID SEARCH SUBJECT three KEYWORD $NotJunk")
	if len(lines) != 1 || lines[0] != "* SEARCH" {
		t.Fatalf("untrained message marked $NotJunk: %q", lines)
	}
}
