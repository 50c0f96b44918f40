// Package storetest is a backend-agnostic conformance suite for
// store.Store: every backend's tests call Run with a function that opens a
// fresh, empty store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pochta/internal/store"
)

// Run runs the conformance suite. open must return a new, empty store for
// each call; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"Domains", testDomains},
		{"Accounts", testAccounts},
		{"AppPasswords", testAppPasswords},
		{"Aliases", testAliases},
		{"CatchAll", testCatchAll},
		{"RemoveDomainInUse", testRemoveDomainInUse},
		{"RemoveAccount", testRemoveAccount},
		{"DefaultMailboxes", testDefaultMailboxes},
		{"MailboxNames", testMailboxNames},
		{"CreateDeleteMailbox", testCreateDeleteMailbox},
		{"UIDValidityUnique", testUIDValidityUnique},
		{"Rename", testRename},
		{"RenameInbox", testRenameInbox},
		{"Subscribe", testSubscribe},
		{"DeliverAndRead", testDeliverAndRead},
		{"DeliverMultiTarget", testDeliverMultiTarget},
		{"DeliverCreatesMailbox", testDeliverCreatesMailbox},
		{"Append", testAppend},
		{"Messages", testMessages},
		{"Flags", testFlags},
		{"UnchangedSince", testUnchangedSince},
		{"ModSeqMonotonic", testModSeqMonotonic},
		{"Status", testStatus},
		{"FirstUnseen", testFirstUnseen},
		{"Recent", testRecent},
		{"RecentRenameInbox", testRecentRenameInbox},
		{"Expunge", testExpunge},
		{"CopyMove", testCopyMove},
		{"CrossAccount", testCrossAccount},
		{"Changes", testChanges},
		{"Quota", testQuota},
		{"Search", testSearch},
		{"SearchBrokenMessage", testSearchBroken},
		{"Watch", testWatch},
		{"WatchFunc", testWatchFunc},
		{"ConcurrentDeliver", testConcurrentDeliver},
		{"NotFound", testNotFound},
		{"OpenWhileExpunging", testOpenWhileExpunging},
		{"SCRAMKeys", testSCRAMKeys},
		{"AccountSources", testAccountSources},
		{"Sieve", testSieve},
		{"SpamTokens", testSpamTokens},
		{"DateIndex", testDateIndex},
		{"FlagList", testFlagList},
		{"Emails", testEmails},
		{"Importer", testImporter},
		{"ServerState", testServerState},
		{"AccountFlags", testAccountFlags},
		{"WebSessions", testWebSessions},
		{"Uploads", testUploads},
		{"AccountEvents", testAccountEvents},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			e := &env{t: t, s: s, ctx: context.Background()}
			tc.fn(t, e)
		})
	}
}

// env bundles the store under test with helpers that fail the test.
type env struct {
	t   *testing.T
	s   store.Store
	ctx context.Context
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) wantErr(err, target error) {
	e.t.Helper()
	if !errors.Is(err, target) {
		e.t.Fatalf("got error %v, want %v", err, target)
	}
}

// account creates domain example.org (if needed) and an account.
func (e *env) account(addr string) store.Account {
	e.t.Helper()
	dom := addr[strings.LastIndexByte(addr, '@')+1:]
	if _, err := e.s.GetDomain(e.ctx, dom); errors.Is(err, store.ErrNotFound) {
		e.must(e.s.AddDomain(e.ctx, dom))
	}
	a, err := e.s.AddAccount(e.ctx, addr, "$argon2id$x")
	e.must(err)
	return a
}

func (e *env) mailbox(acc int64, name string) store.Mailbox {
	e.t.Helper()
	m, err := e.s.GetMailbox(e.ctx, acc, name)
	e.must(err)
	return m
}

func (e *env) status(id int64) store.MailboxStatus {
	e.t.Helper()
	st, err := e.s.Status(e.ctx, id)
	e.must(err)
	return st
}

// msg builds a small RFC 5322 message.
func msg(subject, body string) string {
	return "From: Alice Example <alice@example.net>\r\n" +
		"To: Bob <bob@example.org>\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: <" + subject + "@example.net>\r\n" +
		"\r\n" + body + "\r\n"
}

func (e *env) deliver(acc int64, mailbox, content string, flags ...string) store.Delivered {
	e.t.Helper()
	d, err := e.s.Deliver(e.ctx, strings.NewReader(content), []store.Target{{AccountID: acc, Mailbox: mailbox, Flags: flags}})
	e.must(err)
	if len(d) != 1 {
		e.t.Fatalf("Deliver returned %d results, want 1", len(d))
	}
	return d[0]
}

func (e *env) uids(mb int64) []uint32 {
	e.t.Helper()
	u, err := e.s.UIDs(e.ctx, mb)
	e.must(err)
	return u
}

func (e *env) messages(mb int64, set store.UIDSet) []store.Message {
	e.t.Helper()
	var out []store.Message
	e.must(e.s.Messages(e.ctx, mb, set, func(m store.Message) error {
		out = append(out, m)
		return nil
	}))
	return out
}

func (e *env) content(mb int64, uid uint32) string {
	e.t.Helper()
	r, err := e.s.Open(e.ctx, mb, uid)
	e.must(err)
	defer r.Close()
	b, err := io.ReadAll(r)
	e.must(err)
	return string(b)
}

func eqUIDs(t *testing.T, what string, got, want []uint32) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func testDomains(t *testing.T, e *env) {
	e.must(e.s.AddDomain(e.ctx, "Example.ORG"))
	e.wantErr(e.s.AddDomain(e.ctx, "example.org"), store.ErrExists)
	d, err := e.s.GetDomain(e.ctx, "EXAMPLE.org")
	e.must(err)
	if d.Name != "example.org" || d.CatchAll != "" || d.Created.IsZero() {
		t.Fatalf("GetDomain = %+v", d)
	}
	e.must(e.s.AddDomain(e.ctx, "a.example"))
	ds, err := e.s.ListDomains(e.ctx)
	e.must(err)
	if len(ds) != 2 || ds[0].Name != "a.example" || ds[1].Name != "example.org" {
		t.Fatalf("ListDomains = %+v", ds)
	}
	e.must(e.s.RemoveDomain(e.ctx, "a.example"))
	_, err = e.s.GetDomain(e.ctx, "a.example")
	e.wantErr(err, store.ErrNotFound)
	e.wantErr(e.s.RemoveDomain(e.ctx, "a.example"), store.ErrNotFound)
}

func testAccounts(t *testing.T, e *env) {
	_, err := e.s.AddAccount(e.ctx, "x@nodomain.example", "h")
	e.wantErr(err, store.ErrNotFound)
	e.must(e.s.AddDomain(e.ctx, "example.org"))
	a, err := e.s.AddAccount(e.ctx, "Bob@Example.org", "hash1")
	e.must(err)
	if a.ID == 0 || a.Address != "bob@example.org" || a.PasswordHash != "hash1" || a.Created.IsZero() {
		t.Fatalf("AddAccount = %+v", a)
	}
	_, err = e.s.AddAccount(e.ctx, "BOB@example.org", "h")
	e.wantErr(err, store.ErrExists)
	g, err := e.s.GetAccount(e.ctx, "BOB@EXAMPLE.ORG")
	e.must(err)
	if g.ID != a.ID || g.Address != a.Address {
		t.Fatalf("GetAccount = %+v, want %+v", g, a)
	}
	g, err = e.s.GetAccountByID(e.ctx, a.ID)
	e.must(err)
	if g.Address != "bob@example.org" {
		t.Fatalf("GetAccountByID = %+v", g)
	}
	e.must(e.s.SetPasswordHash(e.ctx, "bob@example.org", "hash2"))
	e.must(e.s.SetQuota(e.ctx, "bob@example.org", 12345))
	g, err = e.s.GetAccount(e.ctx, "bob@example.org")
	e.must(err)
	if g.PasswordHash != "hash2" || g.QuotaBytes != 12345 {
		t.Fatalf("after updates: %+v", g)
	}
	e.wantErr(e.s.SetPasswordHash(e.ctx, "nobody@example.org", "h"), store.ErrNotFound)
	e.wantErr(e.s.SetQuota(e.ctx, "nobody@example.org", 1), store.ErrNotFound)

	e.must(e.s.AddDomain(e.ctx, "other.example"))
	_, err = e.s.AddAccount(e.ctx, "carol@other.example", "h")
	e.must(err)
	all, err := e.s.ListAccounts(e.ctx, "")
	e.must(err)
	if len(all) != 2 {
		t.Fatalf("ListAccounts(all) = %+v", all)
	}
	one, err := e.s.ListAccounts(e.ctx, "OTHER.example")
	e.must(err)
	if len(one) != 1 || one[0].Address != "carol@other.example" {
		t.Fatalf("ListAccounts(other) = %+v", one)
	}
	_, err = e.s.GetAccount(e.ctx, "nobody@example.org")
	e.wantErr(err, store.ErrNotFound)
	_, err = e.s.GetAccountByID(e.ctx, 987654)
	e.wantErr(err, store.ErrNotFound)
}

func testAliases(t *testing.T, e *env) {
	e.must(e.s.AddDomain(e.ctx, "example.org"))
	e.wantErr(e.s.AddAlias(e.ctx, "x@missing.example", []string{"a@b.example"}), store.ErrNotFound)
	e.must(e.s.AddAlias(e.ctx, "Sales@Example.org", []string{"Bob@example.org", "remote@elsewhere.example"}))
	e.wantErr(e.s.AddAlias(e.ctx, "sales@example.org", []string{"c@example.org"}), store.ErrExists)
	a, err := e.s.GetAlias(e.ctx, "SALES@example.org")
	e.must(err)
	if a.Address != "sales@example.org" || !slices.Equal(a.Targets, []string{"bob@example.org", "remote@elsewhere.example"}) {
		t.Fatalf("GetAlias = %+v", a)
	}
	e.account("bob@example.org")
	e.wantErr(e.s.AddAlias(e.ctx, "bob@example.org", []string{"x@example.org"}), store.ErrExists)
	_, err = e.s.AddAccount(e.ctx, "sales@example.org", "h")
	e.wantErr(err, store.ErrExists)
	list, err := e.s.ListAliases(e.ctx, "example.org")
	e.must(err)
	if len(list) != 1 {
		t.Fatalf("ListAliases = %+v", list)
	}
	list, err = e.s.ListAliases(e.ctx, "")
	e.must(err)
	if len(list) != 1 {
		t.Fatalf("ListAliases(all) = %+v", list)
	}
	e.must(e.s.RemoveAlias(e.ctx, "sales@EXAMPLE.org"))
	_, err = e.s.GetAlias(e.ctx, "sales@example.org")
	e.wantErr(err, store.ErrNotFound)
	e.wantErr(e.s.RemoveAlias(e.ctx, "sales@example.org"), store.ErrNotFound)
}

func testCatchAll(t *testing.T, e *env) {
	e.account("bob@example.org")
	e.wantErr(e.s.SetCatchAll(e.ctx, "example.org", "nobody@example.org"), store.ErrNotFound)
	e.wantErr(e.s.SetCatchAll(e.ctx, "missing.example", "bob@example.org"), store.ErrNotFound)
	e.must(e.s.SetCatchAll(e.ctx, "example.org", "Bob@Example.org"))
	d, err := e.s.GetDomain(e.ctx, "example.org")
	e.must(err)
	if d.CatchAll != "bob@example.org" {
		t.Fatalf("CatchAll = %q", d.CatchAll)
	}
	e.must(e.s.SetCatchAll(e.ctx, "example.org", ""))
	d, err = e.s.GetDomain(e.ctx, "example.org")
	e.must(err)
	if d.CatchAll != "" {
		t.Fatalf("CatchAll after clear = %q", d.CatchAll)
	}
}

func testRemoveDomainInUse(t *testing.T, e *env) {
	e.account("bob@example.org")
	e.wantErr(e.s.RemoveDomain(e.ctx, "example.org"), store.ErrInUse)
	e.must(e.s.RemoveAccount(e.ctx, "bob@example.org"))
	e.must(e.s.AddAlias(e.ctx, "a@example.org", []string{"x@y.example"}))
	e.wantErr(e.s.RemoveDomain(e.ctx, "example.org"), store.ErrInUse)
	e.must(e.s.RemoveAlias(e.ctx, "a@example.org"))
	e.must(e.s.RemoveDomain(e.ctx, "example.org"))
}

func testRemoveAccount(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	b := e.account("carol@example.org")
	// One content shared by both accounts.
	ds, err := e.s.Deliver(e.ctx, strings.NewReader(msg("shared", "hello")), []store.Target{{AccountID: a.ID}, {AccountID: b.ID}})
	e.must(err)
	e.must(e.s.SetCatchAll(e.ctx, "example.org", "bob@example.org"))
	e.must(e.s.RemoveAccount(e.ctx, "bob@example.org"))
	_, err = e.s.GetAccount(e.ctx, "bob@example.org")
	e.wantErr(err, store.ErrNotFound)
	_, err = e.s.ListMailboxes(e.ctx, a.ID)
	e.wantErr(err, store.ErrNotFound)
	_, err = e.s.Status(e.ctx, ds[0].MailboxID)
	e.wantErr(err, store.ErrNotFound)
	d, err := e.s.GetDomain(e.ctx, "example.org")
	e.must(err)
	if d.CatchAll != "" {
		t.Fatalf("catch-all of removed account still set: %q", d.CatchAll)
	}
	// Carol's copy of the shared content survives.
	if got := e.content(ds[1].MailboxID, ds[1].UID); !strings.Contains(got, "hello") {
		t.Fatalf("shared content lost: %q", got)
	}
	e.wantErr(e.s.RemoveAccount(e.ctx, "bob@example.org"), store.ErrNotFound)
	// The address can be reused and gets a new ID.
	a2 := e.account("bob@example.org")
	if a2.ID == a.ID {
		t.Fatalf("account ID %d reused", a.ID)
	}
}

func testDefaultMailboxes(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	mbs, err := e.s.ListMailboxes(e.ctx, a.ID)
	e.must(err)
	if len(mbs) != len(store.DefaultMailboxes) {
		t.Fatalf("ListMailboxes = %+v", mbs)
	}
	if mbs[0].Name != "INBOX" {
		t.Fatalf("first mailbox %q, want INBOX", mbs[0].Name)
	}
	byName := map[string]store.Mailbox{}
	for _, m := range mbs {
		byName[m.Name] = m
		if m.AccountID != a.ID || m.UIDValidity == 0 || m.UIDNext != 1 || m.ID == 0 {
			t.Fatalf("mailbox %+v", m)
		}
	}
	for _, d := range store.DefaultMailboxes {
		m, ok := byName[d.Name]
		if !ok || m.SpecialUse != d.SpecialUse {
			t.Fatalf("default mailbox %q: %+v", d.Name, m)
		}
	}
	for _, n := range []string{"inbox", "InBoX", "INBOX"} {
		m, err := e.s.GetMailbox(e.ctx, a.ID, n)
		e.must(err)
		if m.Name != "INBOX" {
			t.Fatalf("GetMailbox(%q).Name = %q", n, m.Name)
		}
	}
}

func testMailboxNames(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	bad := []string{"", "/", "a/", "/a", "a//b", "a/./b", "..", ".", "a/..", "x\x01y", "tab\there", "del\x7f", strings.Repeat("x", 1001)}
	for _, n := range bad {
		_, err := e.s.CreateMailbox(e.ctx, a.ID, n, "")
		if !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("CreateMailbox(%q) = %v, want ErrInvalidName", n, err)
		}
		err = e.s.RenameMailbox(e.ctx, a.ID, "Drafts", n)
		if !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("RenameMailbox(Drafts, %q) = %v, want ErrInvalidName", n, err)
		}
		_, err = e.s.Deliver(e.ctx, strings.NewReader(msg("x", "y")), []store.Target{{AccountID: a.ID, Mailbox: n}})
		if n != "" && !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("Deliver to %q = %v, want ErrInvalidName", n, err)
		}
	}
	good := []string{"Work", "Work/2026", "Ünïcödé", "a.b", "...x", strings.Repeat("y", 1000)}
	for _, n := range good {
		m, err := e.s.CreateMailbox(e.ctx, a.ID, n, "")
		if err != nil {
			t.Errorf("CreateMailbox(%q): %v", n, err)
			continue
		}
		if m.Name != n {
			t.Errorf("created %q, name %q", n, m.Name)
		}
	}
	m, err := e.s.CreateMailbox(e.ctx, a.ID, "inbox/Sub", "")
	e.must(err)
	if m.Name != "INBOX/Sub" {
		t.Fatalf("inbox/Sub created as %q", m.Name)
	}
	_, err = e.s.CreateMailbox(e.ctx, a.ID, "Inbox", "")
	e.wantErr(err, store.ErrExists)
	// INBOX is an invalid deletion target.
	e.wantErr(e.s.DeleteMailbox(e.ctx, a.ID, "inbox"), store.ErrInvalidName)
}

func testCreateDeleteMailbox(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	m, err := e.s.CreateMailbox(e.ctx, a.ID, "Lists/Go", `\Important`)
	e.must(err)
	// CREATE does not subscribe (RFC 9051 §6.3.4 says nothing of it;
	// clients subscribe themselves).
	if m.SpecialUse != `\Important` || m.UIDNext != 1 || m.UIDValidity == 0 || m.Subscribed {
		t.Fatalf("created %+v", m)
	}
	// The parent was created too (RFC 9051 §6.3.4).
	e.mailbox(a.ID, "Lists")
	_, err = e.s.CreateMailbox(e.ctx, a.ID, "Lists/Go", "")
	e.wantErr(err, store.ErrExists)
	e.deliver(a.ID, "Lists", msg("one", "x"))
	e.must(e.s.DeleteMailbox(e.ctx, a.ID, "Lists"))
	_, err = e.s.GetMailbox(e.ctx, a.ID, "Lists")
	e.wantErr(err, store.ErrNotFound)
	// Children stay.
	e.mailbox(a.ID, "Lists/Go")
	e.wantErr(e.s.DeleteMailbox(e.ctx, a.ID, "Lists"), store.ErrNotFound)
	used, _, err := e.s.QuotaUsage(e.ctx, a.ID)
	e.must(err)
	if used != 0 {
		t.Fatalf("quota used after deleting mailbox = %d", used)
	}
}

func testUIDValidityUnique(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	seen := map[uint32]bool{}
	mbs, err := e.s.ListMailboxes(e.ctx, a.ID)
	e.must(err)
	for _, m := range mbs {
		if seen[m.UIDValidity] {
			t.Fatalf("UIDVALIDITY %d repeated", m.UIDValidity)
		}
		seen[m.UIDValidity] = true
	}
	for i := 0; i < 3; i++ {
		m, err := e.s.CreateMailbox(e.ctx, a.ID, "Again", "")
		e.must(err)
		if m.UIDValidity == 0 || seen[m.UIDValidity] {
			t.Fatalf("recreated mailbox reuses UIDVALIDITY %d", m.UIDValidity)
		}
		seen[m.UIDValidity] = true
		d := e.deliver(a.ID, "Again", msg("x", "y"))
		if d.UID != 1 {
			t.Fatalf("first UID in new mailbox = %d", d.UID)
		}
		e.must(e.s.DeleteMailbox(e.ctx, a.ID, "Again"))
	}
}

func testRename(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	for _, n := range []string{"Work", "Work/A", "Work/A/Deep", "Workshop"} {
		_, err := e.s.CreateMailbox(e.ctx, a.ID, n, "")
		e.must(err)
	}
	d := e.deliver(a.ID, "Work/A", msg("kept", "body"))
	before := e.mailbox(a.ID, "Work/A")
	e.must(e.s.RenameMailbox(e.ctx, a.ID, "Work", "Job"))
	for _, n := range []string{"Work", "Work/A", "Work/A/Deep"} {
		_, err := e.s.GetMailbox(e.ctx, a.ID, n)
		e.wantErr(err, store.ErrNotFound)
	}
	e.mailbox(a.ID, "Workshop") // not a child
	after := e.mailbox(a.ID, "Job/A")
	e.mailbox(a.ID, "Job/A/Deep")
	if after.ID != before.ID || after.UIDValidity != before.UIDValidity {
		t.Fatalf("renamed mailbox changed identity: %+v -> %+v", before, after)
	}
	if got := e.content(after.ID, d.UID); !strings.Contains(got, "kept") {
		t.Fatalf("content after rename: %q", got)
	}
	e.wantErr(e.s.RenameMailbox(e.ctx, a.ID, "Job", "Workshop"), store.ErrExists)
	e.wantErr(e.s.RenameMailbox(e.ctx, a.ID, "Missing", "Other"), store.ErrNotFound)
	e.wantErr(e.s.RenameMailbox(e.ctx, a.ID, "Job", "Job/Inner"), store.ErrInvalidName)
	// Non-ASCII names keep their children too.
	_, err := e.s.CreateMailbox(e.ctx, a.ID, "Ünïcödé/Kïnd", "")
	e.must(err)
	e.must(e.s.RenameMailbox(e.ctx, a.ID, "Ünïcödé", "Ωmega"))
	e.mailbox(a.ID, "Ωmega/Kïnd")
	// Renaming into a new hierarchy creates the parents.
	e.must(e.s.RenameMailbox(e.ctx, a.ID, "Workshop", "New/Place/Shop"))
	e.mailbox(a.ID, "New/Place")
	e.mailbox(a.ID, "New/Place/Shop")
}

func testRenameInbox(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	_, err := e.s.CreateMailbox(e.ctx, a.ID, "INBOX/Child", "")
	e.must(err)
	inbox := e.mailbox(a.ID, "INBOX")
	for i := 0; i < 3; i++ {
		e.deliver(a.ID, "", msg(fmt.Sprint("m", i), "body"), `\Seen`)
	}
	e.must(e.s.RenameMailbox(e.ctx, a.ID, "inbox", "Old Inbox"))
	in := e.mailbox(a.ID, "INBOX")
	if in.ID != inbox.ID || in.UIDValidity != inbox.UIDValidity {
		t.Fatalf("INBOX identity changed")
	}
	eqUIDs(t, "INBOX after rename", e.uids(in.ID), nil)
	if st := e.status(in.ID); st.Messages != 0 || st.UIDNext != 4 {
		t.Fatalf("INBOX status after rename: %+v", st)
	}
	old := e.mailbox(a.ID, "Old Inbox")
	ms := e.messages(old.ID, nil)
	if len(ms) != 3 || !ms[0].HasFlag(`\seen`) {
		t.Fatalf("moved messages: %+v", ms)
	}
	if got := e.content(old.ID, ms[2].UID); !strings.Contains(got, "Subject: m2") {
		t.Fatalf("content: %q", got)
	}
	e.mailbox(a.ID, "INBOX/Child")
	e.wantErr(e.s.RenameMailbox(e.ctx, a.ID, "Drafts", "INBOX"), store.ErrExists)
	// A new delivery lands in the (empty) INBOX with a fresh UID.
	d := e.deliver(a.ID, "", msg("new", "x"))
	if d.MailboxID != inbox.ID || d.UID != 4 {
		t.Fatalf("delivery after rename: %+v", d)
	}
}

func testSubscribe(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	// An account's default mailboxes start subscribed.
	if !e.mailbox(a.ID, "Drafts").Subscribed {
		t.Fatal("default mailbox not subscribed")
	}
	e.must(e.s.SetSubscribed(e.ctx, a.ID, "Drafts", false))
	if e.mailbox(a.ID, "Drafts").Subscribed {
		t.Fatal("still subscribed")
	}
	e.must(e.s.SetSubscribed(e.ctx, a.ID, "Drafts", true))
	if !e.mailbox(a.ID, "Drafts").Subscribed {
		t.Fatal("not subscribed")
	}
	// A name without a mailbox can be subscribed (RFC 9051 §6.3.7), and
	// a subscription outlives its mailbox.
	e.must(e.s.SetSubscribed(e.ctx, a.ID, "Nope/Child", true))
	_, err := e.s.CreateMailbox(e.ctx, a.ID, "Gône", "")
	e.must(err)
	e.must(e.s.SetSubscribed(e.ctx, a.ID, "Gône", true))
	e.must(e.s.DeleteMailbox(e.ctx, a.ID, "Gône"))
	subs, err := e.s.Subscriptions(e.ctx, a.ID)
	e.must(err)
	if !slices.Contains(subs, "Nope/Child") || !slices.Contains(subs, "Gône") || !slices.Contains(subs, "Drafts") {
		t.Fatalf("subscriptions %q", subs)
	}
	// A recreated mailbox finds its name still subscribed.
	m, err := e.s.CreateMailbox(e.ctx, a.ID, "Gône", "")
	e.must(err)
	if !m.Subscribed || !e.mailbox(a.ID, "Gône").Subscribed {
		t.Fatal("recreated mailbox lost its subscription")
	}
	// Subscriptions follow a RENAME, children included.
	_, err = e.s.CreateMailbox(e.ctx, a.ID, "Gône/Kid", "")
	e.must(err)
	e.must(e.s.SetSubscribed(e.ctx, a.ID, "Gône/Kid", true))
	e.must(e.s.RenameMailbox(e.ctx, a.ID, "Gône", "Here"))
	subs, err = e.s.Subscriptions(e.ctx, a.ID)
	e.must(err)
	if slices.Contains(subs, "Gône") || slices.Contains(subs, "Gône/Kid") || !slices.Contains(subs, "Here") || !slices.Contains(subs, "Here/Kid") {
		t.Fatalf("subscriptions after rename %q", subs)
	}
	e.must(e.s.SetSubscribed(e.ctx, a.ID, "Nope/Child", false))
	subs, err = e.s.Subscriptions(e.ctx, a.ID)
	e.must(err)
	if slices.Contains(subs, "Nope/Child") || !slices.IsSorted(subs) {
		t.Fatalf("subscriptions after unsubscribe %q", subs)
	}
	// "inbox" is INBOX; invalid names are refused.
	e.must(e.s.SetSubscribed(e.ctx, a.ID, "inbox", true))
	if !e.mailbox(a.ID, "INBOX").Subscribed {
		t.Fatal("inbox not subscribed as INBOX")
	}
	e.wantErr(e.s.SetSubscribed(e.ctx, a.ID, "a//b", true), store.ErrInvalidName)
	e.wantErr(e.s.SetSubscribed(e.ctx, 987654, "X", true), store.ErrNotFound)
}

func testDeliverAndRead(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	content := msg("hello", "the body")
	start := time.Now().Add(-time.Second)
	d := e.deliver(a.ID, "", content, "$Junk", `\seen`)
	inbox := e.mailbox(a.ID, "INBOX")
	if d.MailboxID != inbox.ID || d.UID != 1 {
		t.Fatalf("Delivered = %+v", d)
	}
	if got := e.content(d.MailboxID, d.UID); got != content {
		t.Fatalf("content = %q", got)
	}
	r, err := e.s.Open(e.ctx, d.MailboxID, d.UID)
	e.must(err)
	if _, err := r.Seek(6, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != content[6:] {
		t.Fatalf("after Seek: %q", b)
	}
	ms := e.messages(inbox.ID, nil)
	if len(ms) != 1 {
		t.Fatalf("Messages = %+v", ms)
	}
	m := ms[0]
	if m.UID != 1 || m.Size != int64(len(content)) || m.MailboxID != inbox.ID || m.ModSeq == 0 ||
		!slices.Equal(m.Flags, []string{"$Junk", `\Seen`}) || m.InternalDate.Before(start) || m.InternalDate.After(time.Now().Add(time.Second)) {
		t.Fatalf("message = %+v", m)
	}
	d2 := e.deliver(a.ID, "INBOX", msg("second", "x"))
	if d2.UID != 2 {
		t.Fatalf("second UID = %d", d2.UID)
	}
	eqUIDs(t, "UIDs", e.uids(inbox.ID), []uint32{1, 2})
	_, err = e.s.Open(e.ctx, inbox.ID, 99)
	e.wantErr(err, store.ErrNotFound)
	_, err = e.s.Deliver(e.ctx, strings.NewReader("x"), []store.Target{{AccountID: 999999}})
	e.wantErr(err, store.ErrNotFound)
}

func testDeliverMultiTarget(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	b := e.account("carol@example.org")
	content := msg("multi", "shared body")
	ds, err := e.s.Deliver(e.ctx, strings.NewReader(content), []store.Target{
		{AccountID: a.ID}, {AccountID: b.ID, Mailbox: "Junk", Flags: []string{"$Junk"}}, {AccountID: a.ID, Mailbox: "Archive"},
	})
	e.must(err)
	if len(ds) != 3 {
		t.Fatalf("Delivered = %+v", ds)
	}
	if ds[1].MailboxID != e.mailbox(b.ID, "Junk").ID || ds[2].MailboxID != e.mailbox(a.ID, "Archive").ID {
		t.Fatalf("Delivered = %+v", ds)
	}
	for _, d := range ds {
		if got := e.content(d.MailboxID, d.UID); got != content {
			t.Fatalf("content in %d = %q", d.MailboxID, got)
		}
	}
	if ms := e.messages(ds[1].MailboxID, nil); len(ms) != 1 || !ms[0].HasFlag("$junk") {
		t.Fatalf("junk copy: %+v", ms)
	}
	used, _, err := e.s.QuotaUsage(e.ctx, a.ID)
	e.must(err)
	if used != 2*int64(len(content)) {
		t.Fatalf("bob uses %d, want %d", used, 2*len(content))
	}
	// Expunging one copy leaves the others readable.
	_, _, err = e.s.SetFlags(e.ctx, ds[0].MailboxID, nil, store.FlagsAdd, []string{`\Deleted`}, 0)
	e.must(err)
	_, err = e.s.Expunge(e.ctx, ds[0].MailboxID, nil)
	e.must(err)
	if got := e.content(ds[1].MailboxID, ds[1].UID); got != content {
		t.Fatalf("shared content after expunge: %q", got)
	}
}

func testDeliverCreatesMailbox(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	d := e.deliver(a.ID, "Lists/golang", msg("x", "y"))
	m := e.mailbox(a.ID, "Lists/golang")
	if d.MailboxID != m.ID || d.UID != 1 {
		t.Fatalf("Delivered = %+v, mailbox %+v", d, m)
	}
	e.mailbox(a.ID, "Lists")
}

func testAppend(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	sent := e.mailbox(a.ID, "Sent")
	date := time.Date(2024, 2, 29, 12, 30, 0, 0, time.FixedZone("x", 3600))
	content := msg("appended", "hi")
	m, err := e.s.Append(e.ctx, sent.ID, []string{`\SEEN`, "$Label", "$label", `\Recent`}, date, strings.NewReader(content))
	e.must(err)
	if m.UID != 1 || m.MailboxID != sent.ID || m.Size != int64(len(content)) || !m.InternalDate.Equal(date) ||
		!slices.Equal(m.Flags, []string{"$Label", `\Seen`}) || m.ModSeq == 0 {
		t.Fatalf("Append = %+v", m)
	}
	got := e.messages(sent.ID, nil)
	if len(got) != 1 || !got[0].InternalDate.Equal(date) || got[0].ModSeq != m.ModSeq || !slices.Equal(got[0].Flags, m.Flags) {
		t.Fatalf("Messages = %+v", got)
	}
	m2, err := e.s.Append(e.ctx, sent.ID, nil, time.Time{}, strings.NewReader(content))
	e.must(err)
	if m2.UID != 2 || time.Since(m2.InternalDate) > time.Minute || len(m2.Flags) != 0 {
		t.Fatalf("Append zero date = %+v", m2)
	}
	if e.content(sent.ID, 2) != content {
		t.Fatal("appended content differs")
	}
	_, err = e.s.Append(e.ctx, 987654, nil, time.Time{}, strings.NewReader(content))
	e.wantErr(err, store.ErrNotFound)
}

func testMessages(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	for i := 0; i < 10; i++ {
		e.deliver(a.ID, "", msg(fmt.Sprint("m", i), "x"))
	}
	get := func(set store.UIDSet) []uint32 {
		var u []uint32
		for _, m := range e.messages(inbox.ID, set) {
			u = append(u, m.UID)
		}
		return u
	}
	eqUIDs(t, "nil set", get(nil), []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	eqUIDs(t, "empty set", get(store.UIDSet{}), nil)
	eqUIDs(t, "ranges", get(store.UIDSet{{Start: 8, Stop: 0}, {Start: 2, Stop: 3}, {Start: 3, Stop: 4}}), []uint32{2, 3, 4, 8, 9, 10})
	eqUIDs(t, "reversed range", get(store.UIDSet{{Start: 5, Stop: 3}}), []uint32{3, 4, 5})
	eqUIDs(t, "beyond", get(store.UIDSet{{Start: 50, Stop: 60}}), nil)
	var many store.UIDSet
	for u := uint32(1); u <= 200; u += 2 {
		many = append(many, store.UIDRange{Start: u, Stop: u})
	}
	eqUIDs(t, "many ranges", get(many), []uint32{1, 3, 5, 7, 9})
	// fn errors stop the iteration and are returned.
	stop := errors.New("stop")
	n := 0
	err := e.s.Messages(e.ctx, inbox.ID, nil, func(store.Message) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("Messages with failing fn: err %v after %d", err, n)
	}
	err = e.s.Messages(e.ctx, 987654, nil, func(store.Message) error { return nil })
	e.wantErr(err, store.ErrNotFound)
	err = e.s.Messages(e.ctx, 987654, store.UIDSet{{Start: 1, Stop: 5}}, func(store.Message) error { return nil })
	e.wantErr(err, store.ErrNotFound)
	// A set matching nothing in an existing mailbox is no error.
	eqUIDs(t, "no match", get(store.UIDSet{{Start: 100000, Stop: 100005}}), nil)
}

func testFlags(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	for i := 0; i < 3; i++ {
		e.deliver(a.ID, "", msg(fmt.Sprint("m", i), "x"))
	}
	changed, failed, err := e.s.SetFlags(e.ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 2}}, store.FlagsAdd, []string{`\flagged`, "$Work", `\Seen`, "$work"}, 0)
	e.must(err)
	if len(changed) != 2 || len(failed) != 0 {
		t.Fatalf("changed %+v failed %v", changed, failed)
	}
	want := []string{"$Work", `\Flagged`, `\Seen`}
	for _, m := range changed {
		if !slices.Equal(m.Flags, want) {
			t.Fatalf("flags = %v, want %v", m.Flags, want)
		}
	}
	changed, _, err = e.s.SetFlags(e.ctx, inbox.ID, nil, store.FlagsRemove, []string{`\SEEN`, "$WORK"}, 0)
	e.must(err)
	if len(changed) != 2 || !slices.Equal(changed[0].Flags, []string{`\Flagged`}) {
		t.Fatalf("after remove: %+v", changed)
	}
	changed, _, err = e.s.SetFlags(e.ctx, inbox.ID, store.UIDSet{{Start: 3, Stop: 3}}, store.FlagsReplace, []string{`\Answered`, `\Draft`}, 0)
	e.must(err)
	if len(changed) != 1 || !slices.Equal(changed[0].Flags, []string{`\Answered`, `\Draft`}) {
		t.Fatalf("after replace: %+v", changed)
	}
	// Setting flags that are already there changes nothing.
	changed, _, err = e.s.SetFlags(e.ctx, inbox.ID, store.UIDSet{{Start: 3, Stop: 3}}, store.FlagsAdd, []string{`\answered`}, 0)
	e.must(err)
	if len(changed) != 0 {
		t.Fatalf("no-op change reported: %+v", changed)
	}
	ms := e.messages(inbox.ID, nil)
	if !slices.Equal(ms[0].Flags, []string{`\Flagged`}) || !slices.Equal(ms[2].Flags, []string{`\Answered`, `\Draft`}) {
		t.Fatalf("stored flags: %+v", ms)
	}
	_, _, err = e.s.SetFlags(e.ctx, 987654, nil, store.FlagsAdd, []string{`\Seen`}, 0)
	e.wantErr(err, store.ErrNotFound)
}

func testUnchangedSince(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	e.deliver(a.ID, "", msg("a", "x"))
	e.deliver(a.ID, "", msg("b", "x"))
	ms := e.messages(inbox.ID, nil)
	since := ms[0].ModSeq
	// Message 2 was delivered later, so its ModSeq is greater than since.
	changed, failed, err := e.s.SetFlags(e.ctx, inbox.ID, nil, store.FlagsAdd, []string{`\Seen`}, since)
	e.must(err)
	eqUIDs(t, "failed", failed, []uint32{2})
	if len(changed) != 1 || changed[0].UID != 1 || changed[0].ModSeq <= ms[1].ModSeq {
		t.Fatalf("changed = %+v", changed)
	}
	st := e.status(inbox.ID)
	if st.HighestModSeq != changed[0].ModSeq {
		t.Fatalf("HighestModSeq %d, changed ModSeq %d", st.HighestModSeq, changed[0].ModSeq)
	}
	ms2 := e.messages(inbox.ID, store.UIDSet{{Start: 2, Stop: 2}})
	if ms2[0].HasFlag(`\Seen`) {
		t.Fatal("failed message was changed")
	}
}

func testModSeqMonotonic(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	last := e.status(inbox.ID).HighestModSeq
	step := func(what string) {
		t.Helper()
		h := e.status(inbox.ID).HighestModSeq
		if h <= last {
			t.Fatalf("%s: HIGHESTMODSEQ %d not above %d", what, h, last)
		}
		last = h
	}
	e.deliver(a.ID, "", msg("a", "x"))
	step("deliver")
	_, err := e.s.Append(e.ctx, inbox.ID, nil, time.Time{}, strings.NewReader(msg("b", "x")))
	e.must(err)
	step("append")
	_, _, err = e.s.SetFlags(e.ctx, inbox.ID, nil, store.FlagsAdd, []string{`\Deleted`}, 0)
	e.must(err)
	step("flags")
	ms := e.messages(inbox.ID, nil)
	for _, m := range ms {
		if m.ModSeq != last {
			t.Fatalf("message modseq %d, mailbox %d", m.ModSeq, last)
		}
	}
	arch := e.mailbox(a.ID, "Archive")
	_, err = e.s.Copy(e.ctx, inbox.ID, nil, arch.ID)
	e.must(err)
	if e.status(arch.ID).HighestModSeq <= arch.HighestModSeq {
		t.Fatal("copy did not raise destination HIGHESTMODSEQ")
	}
	_, err = e.s.Move(e.ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}}, arch.ID)
	e.must(err)
	step("move")
	_, err = e.s.Expunge(e.ctx, inbox.ID, nil)
	e.must(err)
	step("expunge")
}

func testStatus(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	st := e.status(inbox.ID)
	if st.Messages != 0 || st.Unseen != 0 || st.Size != 0 || st.UIDNext != 1 || st.Name != "INBOX" || st.UIDValidity != inbox.UIDValidity {
		t.Fatalf("empty status %+v", st)
	}
	var total int64
	for i := 0; i < 4; i++ {
		c := msg(fmt.Sprint("s", i), strings.Repeat("x", i*10))
		total += int64(len(c))
		var fl []string
		if i%2 == 0 {
			fl = []string{`\Seen`}
		}
		e.deliver(a.ID, "", c, fl...)
	}
	_, _, err := e.s.SetFlags(e.ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 2}}, store.FlagsAdd, []string{`\Deleted`}, 0)
	e.must(err)
	st = e.status(inbox.ID)
	if st.Messages != 4 || st.Unseen != 2 || st.Deleted != 2 || st.Size != total || st.UIDNext != 5 {
		t.Fatalf("status %+v (size want %d)", st, total)
	}
	_, err = e.s.Expunge(e.ctx, inbox.ID, nil)
	e.must(err)
	st = e.status(inbox.ID)
	if st.Messages != 2 || st.Unseen != 1 || st.Deleted != 0 || st.UIDNext != 5 {
		t.Fatalf("status after expunge %+v", st)
	}
	_, err = e.s.Status(e.ctx, 987654)
	e.wantErr(err, store.ErrNotFound)
}

// testRecent: ClaimRecent hands each new message to exactly one claimer
// (RFC 3501 §2.3.2), and Status counts unclaimed messages without claiming.
func testRecent(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	claim := func(wantFirst, wantNext uint32) {
		t.Helper()
		first, next, err := e.s.ClaimRecent(e.ctx, inbox.ID)
		e.must(err)
		if first != wantFirst || next != wantNext {
			t.Fatalf("ClaimRecent = %d, %d; want %d, %d", first, next, wantFirst, wantNext)
		}
	}
	recent := func(want uint32) {
		t.Helper()
		if st := e.status(inbox.ID); st.Recent != want {
			t.Fatalf("Status.Recent = %d, want %d (%+v)", st.Recent, want, st)
		}
	}
	recent(0)
	claim(1, 1) // empty mailbox: nothing to claim
	for i := 0; i < 3; i++ {
		e.deliver(a.ID, "", msg(fmt.Sprint("r", i), "x"))
	}
	recent(3)
	recent(3) // counting claims nothing
	if mb := e.mailbox(a.ID, "INBOX"); mb.RecentWatermark != 0 {
		t.Fatalf("watermark before claim %d", mb.RecentWatermark)
	}
	claim(1, 4)
	recent(0)
	claim(4, 4) // a second claim right after gets nothing
	if mb := e.mailbox(a.ID, "INBOX"); mb.RecentWatermark != 3 {
		t.Fatalf("watermark after claim %d", mb.RecentWatermark)
	}
	// Deliveries between claims go to the next claimer only.
	e.deliver(a.ID, "", msg("r3", "x"))
	e.deliver(a.ID, "", msg("r4", "x"))
	recent(2)
	claim(4, 6)
	claim(6, 6)
	recent(0)
	// Expunged recent messages are not counted; UIDs are not reused.
	e.deliver(a.ID, "", msg("r5", "x"), `\Deleted`)
	e.deliver(a.ID, "", msg("r6", "x"))
	_, err := e.s.Expunge(e.ctx, inbox.ID, nil)
	e.must(err)
	recent(1)
	claim(6, 8)
	// A copy is a new arrival in the destination.
	arch := e.mailbox(a.ID, "Archive")
	_, err = e.s.Copy(e.ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 2}}, arch.ID)
	e.must(err)
	if st := e.status(arch.ID); st.Recent != 2 {
		t.Fatalf("Archive recent %d", st.Recent)
	}
	recent(0)
	// Concurrent claimers split the new messages without overlap.
	for i := 0; i < 5; i++ {
		e.deliver(a.ID, "", msg(fmt.Sprint("c", i), "x"))
	}
	type claimed struct{ first, next uint32 }
	results := make(chan claimed, 8)
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			f, n, err := e.s.ClaimRecent(e.ctx, inbox.ID)
			errs <- err
			results <- claimed{f, n}
		}()
	}
	got := 0
	for i := 0; i < 8; i++ {
		e.must(<-errs)
		c := <-results
		if c.first < c.next {
			got++
			if c.first != 8 || c.next != 13 {
				t.Fatalf("concurrent claim got %d..%d, want 8..13", c.first, c.next)
			}
		}
	}
	if got != 1 {
		t.Fatalf("%d concurrent claimers got the new messages, want 1", got)
	}
	_, _, err = e.s.ClaimRecent(e.ctx, 987654)
	e.wantErr(err, store.ErrNotFound)
}

// testRecentRenameInbox: the mailbox INBOX's messages move to starts with
// nothing claimed; INBOX keeps its watermark.
func testRecentRenameInbox(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	e.deliver(a.ID, "", msg("a", "x"))
	e.deliver(a.ID, "", msg("b", "x"))
	_, _, err := e.s.ClaimRecent(e.ctx, inbox.ID)
	e.must(err)
	e.must(e.s.RenameMailbox(e.ctx, a.ID, "INBOX", "Old"))
	old := e.mailbox(a.ID, "Old")
	if old.RecentWatermark != 0 || e.status(old.ID).Recent != 2 {
		t.Fatalf("renamed: %+v recent %d", old, e.status(old.ID).Recent)
	}
	if st := e.status(inbox.ID); st.Recent != 0 || st.RecentWatermark != 2 {
		t.Fatalf("INBOX after rename %+v", st)
	}
	e.deliver(a.ID, "", msg("c", "x"))
	first, next, err := e.s.ClaimRecent(e.ctx, inbox.ID)
	e.must(err)
	if first != 3 || next != 4 {
		t.Fatalf("claim after rename %d, %d", first, next)
	}
}

func testExpunge(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	for i := 0; i < 6; i++ {
		e.deliver(a.ID, "", msg(fmt.Sprint("e", i), "x"))
	}
	_, _, err := e.s.SetFlags(e.ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 4}}, store.FlagsAdd, []string{`\Deleted`}, 0)
	e.must(err)
	got, err := e.s.Expunge(e.ctx, inbox.ID, store.UIDSet{{Start: 2, Stop: 3}, {Start: 6, Stop: 6}})
	e.must(err)
	eqUIDs(t, "UID EXPUNGE subset", got, []uint32{2, 3})
	eqUIDs(t, "remaining", e.uids(inbox.ID), []uint32{1, 4, 5, 6})
	got, err = e.s.Expunge(e.ctx, inbox.ID, nil)
	e.must(err)
	eqUIDs(t, "EXPUNGE", got, []uint32{1, 4})
	eqUIDs(t, "remaining", e.uids(inbox.ID), []uint32{5, 6})
	got, err = e.s.Expunge(e.ctx, inbox.ID, nil)
	e.must(err)
	eqUIDs(t, "nothing to expunge", got, nil)
	_, err = e.s.Open(e.ctx, inbox.ID, 1)
	e.wantErr(err, store.ErrNotFound)
	// UIDs are never reused.
	if d := e.deliver(a.ID, "", msg("n", "x")); d.UID != 7 {
		t.Fatalf("UID after expunge = %d", d.UID)
	}
}

func testCopyMove(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	arch := e.mailbox(a.ID, "Archive")
	var contents []string
	for i := 0; i < 5; i++ {
		c := msg(fmt.Sprint("c", i), "body")
		contents = append(contents, c)
		e.deliver(a.ID, "", c, "$K")
	}
	e.deliver(a.ID, "Archive", msg("pre", "x"))
	pairs, err := e.s.Copy(e.ctx, inbox.ID, store.UIDSet{{Start: 2, Stop: 3}, {Start: 5, Stop: 5}}, arch.ID)
	e.must(err)
	want := []store.UIDPair{{Src: 2, Dst: 2}, {Src: 3, Dst: 3}, {Src: 5, Dst: 4}}
	if !slices.Equal(pairs, want) {
		t.Fatalf("COPYUID %v, want %v", pairs, want)
	}
	for _, p := range pairs {
		if e.content(arch.ID, p.Dst) != contents[p.Src-1] {
			t.Fatalf("copied content of %d differs", p.Src)
		}
	}
	am := e.messages(arch.ID, store.UIDSet{{Start: 2, Stop: 0}})
	if len(am) != 3 || !am[0].HasFlag("$K") {
		t.Fatalf("copied messages %+v", am)
	}
	eqUIDs(t, "source after copy", e.uids(inbox.ID), []uint32{1, 2, 3, 4, 5})
	pairs, err = e.s.Move(e.ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 2}}, arch.ID)
	e.must(err)
	if !slices.Equal(pairs, []store.UIDPair{{Src: 1, Dst: 5}, {Src: 2, Dst: 6}}) {
		t.Fatalf("MOVE pairs %v", pairs)
	}
	eqUIDs(t, "source after move", e.uids(inbox.ID), []uint32{3, 4, 5})
	eqUIDs(t, "dest after move", e.uids(arch.ID), []uint32{1, 2, 3, 4, 5, 6})
	if e.content(arch.ID, 6) != contents[1] {
		t.Fatal("moved content differs")
	}
	_, vanished, err := e.s.Changes(e.ctx, inbox.ID, 0)
	e.must(err)
	eqUIDs(t, "vanished after move", vanished, []uint32{1, 2})
	// Copy of nothing.
	pairs, err = e.s.Copy(e.ctx, inbox.ID, store.UIDSet{{Start: 100, Stop: 200}}, arch.ID)
	e.must(err)
	if len(pairs) != 0 {
		t.Fatalf("copy of nothing: %v", pairs)
	}
	// Move within one mailbox renumbers.
	pairs, err = e.s.Move(e.ctx, inbox.ID, store.UIDSet{{Start: 3, Stop: 3}}, inbox.ID)
	e.must(err)
	if !slices.Equal(pairs, []store.UIDPair{{Src: 3, Dst: 6}}) {
		t.Fatalf("self move %v", pairs)
	}
	eqUIDs(t, "after self move", e.uids(inbox.ID), []uint32{4, 5, 6})
	used, _, err := e.s.QuotaUsage(e.ctx, a.ID)
	e.must(err)
	var sum int64
	for _, id := range []int64{inbox.ID, arch.ID} {
		sum += e.status(id).Size
	}
	if used != sum {
		t.Fatalf("quota used %d, mailbox sizes %d", used, sum)
	}
}

func testCrossAccount(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	b := e.account("carol@example.org")
	e.deliver(a.ID, "", msg("x", "y"))
	_, err := e.s.Copy(e.ctx, e.mailbox(a.ID, "INBOX").ID, nil, e.mailbox(b.ID, "INBOX").ID)
	e.wantErr(err, store.ErrNotFound)
	_, err = e.s.Move(e.ctx, e.mailbox(a.ID, "INBOX").ID, nil, e.mailbox(b.ID, "INBOX").ID)
	e.wantErr(err, store.ErrNotFound)
	eqUIDs(t, "carol", e.uids(e.mailbox(b.ID, "INBOX").ID), nil)
}

func testChanges(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	for i := 0; i < 4; i++ {
		e.deliver(a.ID, "", msg(fmt.Sprint("c", i), "x"))
	}
	base := e.status(inbox.ID).HighestModSeq
	changed, vanished, err := e.s.Changes(e.ctx, inbox.ID, base)
	e.must(err)
	if len(changed) != 0 || len(vanished) != 0 {
		t.Fatalf("no changes expected: %+v %v", changed, vanished)
	}
	_, _, err = e.s.SetFlags(e.ctx, inbox.ID, store.UIDSet{{Start: 3, Stop: 3}}, store.FlagsAdd, []string{`\Seen`}, 0)
	e.must(err)
	_, _, err = e.s.SetFlags(e.ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 2}}, store.FlagsAdd, []string{`\Deleted`}, 0)
	e.must(err)
	_, err = e.s.Expunge(e.ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}})
	e.must(err)
	changed, vanished, err = e.s.Changes(e.ctx, inbox.ID, base)
	e.must(err)
	var cu []uint32
	for _, m := range changed {
		cu = append(cu, m.UID)
		if m.ModSeq <= base {
			t.Fatalf("changed message with old modseq %+v", m)
		}
	}
	eqUIDs(t, "changed", cu, []uint32{2, 3})
	eqUIDs(t, "vanished", vanished, []uint32{1})
	changed, vanished, err = e.s.Changes(e.ctx, inbox.ID, 0)
	e.must(err)
	if len(changed) != 3 || len(vanished) != 1 {
		t.Fatalf("Changes(0): %+v %v", changed, vanished)
	}
	_, _, err = e.s.Changes(e.ctx, 987654, 0)
	e.wantErr(err, store.ErrNotFound)
}

func testQuota(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	b := e.account("carol@example.org")
	c := msg("q", strings.Repeat("z", 400))
	size := int64(len(c))
	e.must(e.s.SetQuota(e.ctx, "bob@example.org", 2*size+size/2))
	used, limit, err := e.s.QuotaUsage(e.ctx, a.ID)
	e.must(err)
	if used != 0 || limit != 2*size+size/2 {
		t.Fatalf("QuotaUsage = %d, %d", used, limit)
	}
	e.deliver(a.ID, "", c)
	e.deliver(a.ID, "", c)
	// The third copy does not fit: nothing is stored, not even for carol.
	_, err = e.s.Deliver(e.ctx, strings.NewReader(c), []store.Target{{AccountID: b.ID}, {AccountID: a.ID}})
	e.wantErr(err, store.ErrOverQuota)
	eqUIDs(t, "carol after failed delivery", e.uids(e.mailbox(b.ID, "INBOX").ID), nil)
	inbox := e.mailbox(a.ID, "INBOX")
	_, err = e.s.Append(e.ctx, inbox.ID, nil, time.Time{}, strings.NewReader(c))
	e.wantErr(err, store.ErrOverQuota)
	_, err = e.s.Copy(e.ctx, inbox.ID, nil, e.mailbox(a.ID, "Archive").ID)
	e.wantErr(err, store.ErrOverQuota)
	// Move does not change usage.
	_, err = e.s.Move(e.ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}}, e.mailbox(a.ID, "Archive").ID)
	e.must(err)
	used, _, err = e.s.QuotaUsage(e.ctx, a.ID)
	e.must(err)
	if used != 2*size {
		t.Fatalf("used %d, want %d", used, 2*size)
	}
	_, _, err = e.s.SetFlags(e.ctx, inbox.ID, nil, store.FlagsAdd, []string{`\Deleted`}, 0)
	e.must(err)
	_, err = e.s.Expunge(e.ctx, inbox.ID, nil)
	e.must(err)
	used, _, err = e.s.QuotaUsage(e.ctx, a.ID)
	e.must(err)
	if used != size {
		t.Fatalf("used after expunge %d, want %d", used, size)
	}
	e.deliver(a.ID, "", c)
	// No quota means no limit.
	e.must(e.s.SetQuota(e.ctx, "bob@example.org", 0))
	for i := 0; i < 3; i++ {
		e.deliver(a.ID, "", c)
	}
	used, limit, err = e.s.QuotaUsage(e.ctx, a.ID)
	e.must(err)
	if used != 5*size || limit != 0 {
		t.Fatalf("QuotaUsage = %d, %d", used, limit)
	}
	_, _, err = e.s.QuotaUsage(e.ctx, 987654)
	e.wantErr(err, store.ErrNotFound)
}

func testWatch(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	b := e.account("carol@example.org")
	ch, cancel := e.s.Watch(a.ID)
	chB, cancelB := e.s.Watch(b.ID)
	defer cancelB()
	d := e.deliver(a.ID, "", msg("w", "x"))
	select {
	case c := <-ch:
		if c.AccountID != a.ID || c.MailboxID != d.MailboxID {
			t.Fatalf("change %+v, want mailbox %d", c, d.MailboxID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no change after delivery")
	}
	select {
	case c := <-chB:
		t.Fatalf("other account notified: %+v", c)
	default:
	}
	// Many changes without reading: the last one is never lost.
	for i := 0; i < 100; i++ {
		_, _, err := e.s.SetFlags(e.ctx, d.MailboxID, nil, store.FlagsReplace, []string{fmt.Sprint("$k", i)}, 0)
		e.must(err)
	}
	arch := e.mailbox(a.ID, "Archive")
	e.deliver(a.ID, "Archive", msg("last", "x"))
	var last store.Change
	for drained := false; !drained; {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatal("channel closed")
			}
			last = c
		default:
			drained = true
		}
	}
	if last.MailboxID != arch.ID {
		t.Fatalf("last change %+v, want mailbox %d", last, arch.ID)
	}
	cancel()
	cancel() // idempotent
	e.deliver(a.ID, "", msg("after cancel", "x"))
	// cancel closed the channel; at most buffered values remain.
	n := 0
	for range ch {
		n++
	}
	if n > 0 {
		t.Fatalf("%d changes after cancel", n)
	}
}

func testConcurrentDeliver(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	b := e.account("carol@example.org")
	const senders, each = 50, 4
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	type res struct {
		d    []store.Delivered
		body string
	}
	results := make(chan res, senders*each)
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				body := fmt.Sprintf("sender %d message %d", i, j)
				targets := []store.Target{{AccountID: a.ID}}
				if j%2 == 0 {
					targets = append(targets, store.Target{AccountID: b.ID, Mailbox: "Shared"})
				}
				d, err := e.s.Deliver(e.ctx, strings.NewReader(msg(fmt.Sprint("c", i, "-", j), body)), targets)
				if err != nil {
					errs <- err
					return
				}
				results <- res{d, body}
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(results)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[store.Delivered]bool{}
	n := 0
	for r := range results {
		for _, d := range r.d {
			if seen[d] {
				t.Fatalf("duplicate delivery %+v", d)
			}
			seen[d] = true
			if got := e.content(d.MailboxID, d.UID); !strings.Contains(got, r.body) {
				t.Fatalf("message %+v has wrong content", d)
			}
		}
		n++
	}
	if n != senders*each {
		t.Fatalf("%d deliveries, want %d", n, senders*each)
	}
	inbox := e.mailbox(a.ID, "INBOX")
	u := e.uids(inbox.ID)
	if len(u) != senders*each || u[0] != 1 || u[len(u)-1] != senders*each {
		t.Fatalf("INBOX has %d UIDs (%v...)", len(u), u[:min(len(u), 5)])
	}
	st := e.status(inbox.ID)
	if st.UIDNext != senders*each+1 || st.Messages != senders*each {
		t.Fatalf("status %+v", st)
	}
	if u := e.uids(e.mailbox(b.ID, "Shared").ID); len(u) != senders*each/2 {
		t.Fatalf("Shared has %d messages", len(u))
	}
}

func testNotFound(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	_, err := e.s.GetMailbox(e.ctx, a.ID, "Nope")
	e.wantErr(err, store.ErrNotFound)
	_, err = e.s.GetMailbox(e.ctx, a.ID, "bad//name")
	if err == nil {
		t.Fatal("GetMailbox of invalid name succeeded")
	}
	e.wantErr(e.s.DeleteMailbox(e.ctx, a.ID, "Nope"), store.ErrNotFound)
	_, err = e.s.UIDs(e.ctx, 987654)
	e.wantErr(err, store.ErrNotFound)
	_, err = e.s.ListMailboxes(e.ctx, 987654)
	e.wantErr(err, store.ErrNotFound)
	_, err = e.s.CreateMailbox(e.ctx, 987654, "X", "")
	e.wantErr(err, store.ErrNotFound)
	_, err = e.s.Expunge(e.ctx, 987654, nil)
	e.wantErr(err, store.ErrNotFound)
	// Another account's mailbox name does not resolve.
	b := e.account("carol@example.org")
	_, err = e.s.CreateMailbox(e.ctx, b.ID, "CarolOnly", "")
	e.must(err)
	_, err = e.s.GetMailbox(e.ctx, a.ID, "CarolOnly")
	e.wantErr(err, store.ErrNotFound)
	// Readers see content exactly as delivered, including large messages.
	big := msg("big", strings.Repeat("0123456789abcdef", 1<<16))
	d := e.deliver(a.ID, "", big)
	if got := e.content(d.MailboxID, d.UID); !bytes.Equal([]byte(got), []byte(big)) {
		t.Fatal("large message altered")
	}
}
