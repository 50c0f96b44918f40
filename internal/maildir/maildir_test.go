package maildir

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pochta/internal/mutf7"
	"pochta/internal/store"
	"pochta/internal/store/sqlite"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	return st
}

func addAccount(t *testing.T, st *sqlite.Store, addr string) int64 {
	t.Helper()
	a, err := st.AddAccount(context.Background(), addr, "x")
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// put writes a message file with an mtime.
func put(t *testing.T, dir, name, content string, date time.Time) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if !date.IsZero() {
		if err := os.Chtimes(p, date, date); err != nil {
			t.Fatal(err)
		}
	}
}

func mkdirs(t *testing.T, dir string, folders ...string) {
	t.Helper()
	for _, f := range folders {
		for _, s := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, f, s), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// snapMessage is what a test compares of a stored message.
type snapMessage struct {
	Content string
	Flags   string
	Date    int64
}

// snapshot returns every mailbox of an account with its messages in UID
// order, and the subscribed mailbox names.
func snapshot(t *testing.T, st *sqlite.Store, acct int64) (map[string][]snapMessage, []string) {
	t.Helper()
	ctx := context.Background()
	mbs, err := st.ListMailboxes(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]snapMessage{}
	var subs []string
	for _, mb := range mbs {
		if mb.Subscribed {
			subs = append(subs, mb.Name)
		}
		var msgs []store.Message
		if err := st.Messages(ctx, mb.ID, nil, func(m store.Message) error {
			msgs = append(msgs, m)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		list := []snapMessage{}
		for _, m := range msgs {
			rc, err := st.Open(ctx, mb.ID, m.UID)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			list = append(list, snapMessage{string(b), strings.Join(m.Flags, " "), m.InternalDate.Unix()})
		}
		out[mb.Name] = list
	}
	slices.Sort(subs)
	return out, subs
}

var (
	d1 = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	d2 = time.Date(2021, 6, 7, 8, 9, 10, 0, time.UTC)
	d3 = time.Date(2022, 11, 12, 13, 14, 15, 0, time.UTC)
)

// makeTree builds a Maildir++ tree with folders, flags, keywords, new/
// mail, bare LF line endings and encoded folder names.
func makeTree(t *testing.T) string {
	dir := t.TempDir()
	mkdirs(t, dir, ".", ".Sent", ".Work", ".Work.2026", ".&AOQ-rger", ".v1&AC4-2")
	put(t, dir, "cur/1600000002.P1_2.host:2,S", "Subject: second\n\nbare LF body\n", d2)
	put(t, dir, "cur/1600000001.P1_1.host:2,FRS", "Subject: first\r\n\r\n.dot line\r\n", d1)
	put(t, dir, "new/1600000003.P1_3.host:2,S", "Subject: new\r\n\r\nunseen\r\n", d3)
	put(t, dir, ".Sent/cur/1600000004.P1_4.host:2,S", "Subject: sent\r\n\r\nx\r\n", d1)
	put(t, dir, ".Work.2026/cur/1600000005.P1_5.host:2,PSab", "Subject: work\r\n\r\ny\r\n", d2)
	put(t, dir, ".Work.2026/cur/1600000005.P1_10.host:2,T", "Subject: work later\r\n\r\nz\r\n", d3)
	put(t, dir, ".Work.2026/cur/1600000005.P1_9.host:2,D", "Subject: work earlier\r\n\r\nw\r\n", d3)
	put(t, dir, ".Work.2026/dovecot-keywords", "0 $Important\n1 project\n", time.Time{})
	put(t, dir, ".&AOQ-rger/cur/1600000006.P1_6.host:2,", "Subject: umlaut\r\n\r\nu\r\n", d1)
	put(t, dir, ".v1&AC4-2/new/1600000007.P1_7.host", "Subject: dotted\r\n\r\nv\r\n", d1)
	put(t, dir, "subscriptions", "INBOX\nWork\nWork.2026\n&AOQ-rger\n", time.Time{})
	return dir
}

func TestImportExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a1 := addAccount(t, st, "a1@example.org")
	a2 := addAccount(t, st, "a2@example.org")

	n, err := Import(ctx, st, a1, makeTree(t))
	if err != nil {
		t.Fatal(err)
	}
	if n != 9 {
		t.Fatalf("imported %d messages, want 9", n)
	}
	got, subs := snapshot(t, st, a1)
	inbox := got["INBOX"]
	want := []snapMessage{
		{"Subject: first\r\n\r\n.dot line\r\n", `\Answered \Flagged \Seen`, d1.Unix()},
		{"Subject: second\r\n\r\nbare LF body\r\n", `\Seen`, d2.Unix()},
		{"Subject: new\r\n\r\nunseen\r\n", "", d3.Unix()},
	}
	if !slices.Equal(inbox, want) {
		t.Fatalf("INBOX = %+v\nwant %+v", inbox, want)
	}
	if len(got["Sent"]) != 1 || got["Sent"][0].Flags != `\Seen` {
		t.Errorf("Sent = %+v", got["Sent"])
	}
	work := got["Work/2026"]
	if len(work) != 3 || !strings.Contains(work[0].Content, "work\r\n") ||
		!strings.Contains(work[1].Content, "earlier") || !strings.Contains(work[2].Content, "later") {
		t.Fatalf("Work/2026 order wrong: %+v", work)
	}
	for i, f := range []string{`$Forwarded $Important \Seen project`, `\Draft`, `\Deleted`} {
		if !sameFlagSet(work[i].Flags, f) {
			t.Errorf("Work/2026[%d] flags %q, want %q", i, work[i].Flags, f)
		}
	}
	if len(got["ärger"]) != 1 || len(got["v1.2"]) != 1 {
		t.Errorf("encoded folder names not decoded: %v", keys(got))
	}
	if _, ok := got["Work"]; !ok {
		t.Errorf("folder Work missing: %v", keys(got))
	}
	if wantSubs := []string{"INBOX", "Work", "Work/2026", "ärger"}; !subset(wantSubs, subs) || slices.Contains(subs, "v1.2") {
		t.Errorf("subscriptions %v, want %v and not v1.2", subs, wantSubs)
	}

	out := filepath.Join(t.TempDir(), "export")
	n, err = Export(ctx, st, a1, out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 9 {
		t.Fatalf("exported %d messages, want 9", n)
	}
	checkExportLayout(t, out)

	n, err = Import(ctx, st, a2, out)
	if err != nil || n != 9 {
		t.Fatalf("re-import: %d, %v", n, err)
	}
	got2, subs2 := snapshot(t, st, a2)
	for name, msgs := range got {
		if !equalMessages(msgs, got2[name]) {
			t.Errorf("mailbox %q after round trip:\n%+v\nwant\n%+v", name, got2[name], msgs)
		}
	}
	if len(got2) != len(got) || !slices.Equal(subs, subs2) {
		t.Errorf("round trip mailboxes %v subs %v, want %v subs %v", keys(got2), subs2, keys(got), subs)
	}

	// Importing the same tree again stores nothing new.
	n, err = Import(ctx, st, a2, out)
	if err != nil || n != 0 {
		t.Fatalf("second import stored %d (%v), want 0", n, err)
	}

	// Exporting the re-imported account gives the same messages.
	out2 := filepath.Join(t.TempDir(), "export2")
	if _, err := Export(ctx, st, a2, out2); err != nil {
		t.Fatal(err)
	}
	if a, b := treeContents(t, out), treeContents(t, out2); !slices.Equal(a, b) {
		t.Errorf("exports differ:\n%q\n%q", a, b)
	}
}

func sameFlagSet(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func equalMessages(a, b []snapMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Content != b[i].Content || a[i].Date != b[i].Date || !sameFlagSet(a[i].Flags, b[i].Flags) {
			return false
		}
	}
	return true
}

func subset(want, have []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func keys(m map[string][]snapMessage) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

var exportName = regexp.MustCompile(`^[0-9]+\.[0-9]+_[0-9]+\.[^/:]+,S=([0-9]+),W=[0-9]+:2,[A-Za-z]*$`)

// checkExportLayout checks the Maildir++ structure Export wrote.
func checkExportLayout(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{"cur", "new", "tmp", ".Sent/cur", ".Work.2026/cur", ".&AOQ-rger/cur", ".v1&AC4-2/cur", ".Junk/tmp"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("missing directory %s", d)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".Work.2026", "maildirfolder")); err != nil {
		t.Errorf("maildirfolder missing: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(ents) != 0 {
		t.Errorf("tmp/ not empty: %v", ents)
	}
	cur, _ := os.ReadDir(filepath.Join(dir, "cur"))
	if len(cur) != 3 {
		t.Fatalf("INBOX cur/ has %d files, want 3", len(cur))
	}
	dates := map[int64]bool{}
	for _, e := range cur {
		m := exportName.FindStringSubmatch(e.Name())
		if m == nil {
			t.Errorf("file name %q not in the Maildir form", e.Name())
			continue
		}
		fi, _ := e.Info()
		if m[1] != strconv.FormatInt(fi.Size(), 10) {
			t.Errorf("%s: S=%s but file has %d bytes", e.Name(), m[1], fi.Size())
		}
		b, _ := os.ReadFile(filepath.Join(dir, "cur", e.Name()))
		if bytes.Contains(b, []byte("\r\n")) {
			t.Errorf("%s has CRLF line endings", e.Name())
		}
		dates[fi.ModTime().Unix()] = true
		if strings.Contains(string(b), "first") && !strings.HasSuffix(e.Name(), ":2,FRS") {
			t.Errorf("first message exported as %q, want flags FRS", e.Name())
		}
	}
	if !dates[d1.Unix()] || !dates[d2.Unix()] || !dates[d3.Unix()] {
		t.Errorf("mtimes %v do not carry the internal dates", dates)
	}
	kw, _ := os.ReadFile(filepath.Join(dir, ".Work.2026", "dovecot-keywords"))
	if !strings.Contains(string(kw), "$Important") || !strings.Contains(string(kw), "project") {
		t.Errorf("dovecot-keywords = %q", kw)
	}
	subs, _ := os.ReadFile(filepath.Join(dir, "subscriptions"))
	if !strings.Contains(string(subs), "Work.2026\n") || !strings.Contains(string(subs), "&AOQ-rger\n") {
		t.Errorf("subscriptions = %q", subs)
	}
}

// treeContents lists "folder/cur: content | flags" for every message file,
// in the order Import would read them, ignoring unique file names.
func treeContents(t *testing.T, dir string) []string {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	folders, err := scan(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range folders {
		for _, mf := range f.files {
			b, err := os.ReadFile(filepath.Join(dir, mf.path))
			if err != nil {
				t.Fatal(err)
			}
			fl := slices.Clone(mf.flags)
			slices.Sort(fl)
			out = append(out, f.name+": "+string(b)+" | "+strings.Join(fl, " ")+" | "+mf.date.UTC().String())
		}
	}
	return out
}

// TestImportDovecot imports a tree laid out the way Dovecot leaves it:
// index and cache files, dovecot-uidlist giving an order that differs
// from the file names, S=/W= fields, keyword letters and a version 2
// subscriptions file.
func TestImportDovecot(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	acct := addAccount(t, st, "dove@example.org")
	dir := t.TempDir()
	mkdirs(t, dir, ".", ".Junk", ".Trash", ".Drafts", ".Lists.go-nuts")
	for _, f := range []string{"dovecot.index", "dovecot.index.cache", "dovecot.index.log", "dovecot.list.index.log", "dovecot-uidvalidity", "dovecot-uidvalidity.5f1e2d3c", ".Junk/maildirfolder", ".Junk/dovecot.index.log"} {
		put(t, dir, f, "\x00\x01binary", time.Time{})
	}
	put(t, dir, "cur/1700000300.M1P2.mx,S=27,W=30:2,S", "Subject: B\n\nuid 2 by list\n", d2)
	put(t, dir, "cur/1700000100.M3P4.mx,S=27,W=30:2,RS", "Subject: A\n\nuid 7 by list\n", d1)
	put(t, dir, "new/1700000200.M5P6.mx,S=10,W=11", "Subject: C\n\nnot listed\n", d3)
	put(t, dir, "dovecot-uidlist", "3 V1700000000 N8 G1234abcd\n2 :1700000300.M1P2.mx,S=27,W=30\n7 W30 :1700000100.M3P4.mx,S=27,W=30\n", time.Time{})
	put(t, dir, "dovecot-keywords", "0 $Junk\n1 NonJunk\n", time.Time{})
	put(t, dir, ".Junk/cur/1700000400.M7P8.mx,S=5:2,Sa", "Subject: spam\n\nbuy\n", d1)
	put(t, dir, ".Junk/dovecot-keywords", "0 $Junk\n", time.Time{})
	put(t, dir, ".Lists.go-nuts/cur/1700000500.M9P0.mx:2,", "Subject: go\n\nnuts\n", d1)
	put(t, dir, "subscriptions", "V\t2\n\nJunk\nLists\tgo-nuts\n", time.Time{})

	n, err := Import(ctx, st, acct, dir)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("imported %d, want 5", n)
	}
	got, subs := snapshot(t, st, acct)
	inbox := got["INBOX"]
	if len(inbox) != 3 || !strings.Contains(inbox[0].Content, "uid 2") || !strings.Contains(inbox[1].Content, "uid 7") || !strings.Contains(inbox[2].Content, "not listed") {
		t.Fatalf("INBOX order does not follow dovecot-uidlist: %+v", inbox)
	}
	if inbox[1].Flags != `\Answered \Seen` || inbox[2].Flags != "" {
		t.Errorf("INBOX flags %q, %q", inbox[1].Flags, inbox[2].Flags)
	}
	if j := got["Junk"]; len(j) != 1 || !sameFlagSet(j[0].Flags, `$Junk \Seen`) {
		t.Errorf("Junk = %+v", got["Junk"])
	}
	if len(got["Lists/go-nuts"]) != 1 {
		t.Errorf("Lists/go-nuts missing: %v", keys(got))
	}
	// The special-use folders were reused, not duplicated.
	mbs, _ := st.ListMailboxes(ctx, acct)
	for _, mb := range mbs {
		if mb.Name == "Junk" && mb.SpecialUse != `\Junk` {
			t.Errorf("Junk lost its special use: %+v", mb)
		}
	}
	if len(mbs) != len(store.DefaultMailboxes)+2 {
		t.Errorf("mailboxes %v: want the defaults plus Lists and Lists/go-nuts", keys(got))
	}
	if !slices.Contains(subs, "Junk") || !slices.Contains(subs, "Lists/go-nuts") || slices.Contains(subs, "Trash") {
		t.Errorf("subscriptions %v", subs)
	}
}

func TestImportRefusesSymlinks(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	acct := addAccount(t, st, "sym@example.org")
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("Subject: secret\r\n\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	mkdirs(t, dir, ".")
	put(t, dir, "cur/1.a.host:2,S", "Subject: ok\r\n\r\n", d1)
	if err := os.Symlink(outside, filepath.Join(dir, "cur", "2.b.host:2,S")); err != nil {
		t.Fatal(err)
	}
	if n, err := Import(ctx, st, acct, dir); err == nil || n != 0 {
		t.Fatalf("symlinked message: n=%d err=%v, want refusal", n, err)
	}

	dir2 := t.TempDir()
	mkdirs(t, dir2, ".")
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(dir2, ".Evil")); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, st, acct, dir2); err == nil {
		t.Fatal("symlinked folder accepted")
	}
	got, _ := snapshot(t, st, acct)
	for name, msgs := range got {
		if len(msgs) != 0 {
			t.Errorf("mailbox %q got %d messages from a refused import", name, len(msgs))
		}
	}
}

func TestImportRefusesNonMaildir(t *testing.T) {
	st := openStore(t)
	acct := addAccount(t, st, "none@example.org")
	dir := t.TempDir()
	put(t, dir, "notes.txt", "hello", time.Time{})
	if _, err := Import(context.Background(), st, acct, dir); err == nil {
		t.Fatal("a directory without cur/new/folders was accepted as a Maildir")
	}
	if _, err := Import(context.Background(), st, acct, filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing directory was accepted")
	}
}

func TestExportRefusesNonEmptyDir(t *testing.T) {
	st := openStore(t)
	acct := addAccount(t, st, "full@example.org")
	dir := t.TempDir()
	put(t, dir, "something", "x", time.Time{})
	if _, err := Export(context.Background(), st, acct, dir); err == nil {
		t.Fatal("export into a non-empty directory accepted")
	}
}

func TestModifiedUTF7(t *testing.T) {
	for plain, enc := range map[string]string{
		"ärger":      "&AOQ-rger",
		"R&D":        "R&-D",
		"台北":         "&U,BTFw-",
		"v1.2":       "v1&AC4-2",
		"plain name": "plain name",
		"😀":          "&2D3eAA-",
	} {
		if got := mutf7.Encode(plain, "."); got != enc {
			t.Errorf("encodeLevel(%q) = %q, want %q", plain, got, enc)
		}
		if got, err := decodeLevel(enc); err != nil || got != plain {
			t.Errorf("decodeLevel(%q) = %q, %v; want %q", enc, got, err, plain)
		}
	}
	if _, err := mutf7.DecodeLenient("&AOQ"); err == nil {
		t.Error("unterminated shift accepted")
	}
	if got, err := decodeLevel("caf\u00e9"); err != nil || got != "café" {
		t.Errorf("raw UTF-8 folder name: %q, %v", got, err)
	}
}

// Without a subscriptions file every imported folder is subscribed, so
// clients that show only subscribed folders see the imported mail
// (CreateMailbox itself does not subscribe).
func TestImportWithoutSubscriptions(t *testing.T) {
	st := openStore(t)
	acct := addAccount(t, st, "nosubs@example.org")
	dir := t.TempDir()
	mkdirs(t, dir, ".", ".Work", ".Work.2026")
	put(t, dir, ".Work.2026/cur/1600000005.P1_5.host:2,S", "Subject: work\r\n\r\ny\r\n", d2)
	if _, err := Import(context.Background(), st, acct, dir); err != nil {
		t.Fatal(err)
	}
	_, subs := snapshot(t, st, acct)
	for _, want := range []string{"INBOX", "Work", "Work/2026"} {
		if !slices.Contains(subs, want) {
			t.Errorf("%s not subscribed after import: %q", want, subs)
		}
	}
}
