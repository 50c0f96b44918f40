package storetest

import (
	"fmt"
	"testing"

	"pochta/internal/store"
)

// testEmails: JMAP identities (store.Emails). An Email id survives a move
// (also on the expunge tombstone) and a copy gets a new one; threads are
// given at delivery from Message-ID, References/In-Reply-To and the base
// subject (RFC 8621 §3), across mailboxes of one account and never across
// accounts.
func testEmails(t *testing.T, e *env) {
	es, ok := e.s.(store.Emails)
	if !ok {
		t.Fatal("the backend does not implement store.Emails (JMAP ids and threads)")
	}
	a := e.account("erin@example.org")
	other := e.account("olaf@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	archive := e.mailbox(a.ID, "Archive")
	mail := func(id, subject, refs string) string {
		h := "From: x@example.net\r\nSubject: " + subject + "\r\n"
		if id != "" {
			h += "Message-ID: <" + id + "@example.net>\r\n"
		}
		if refs != "" {
			h += "References: " + refs + "\r\n"
		}
		return h + "\r\nbody\r\n"
	}
	ref := func(mb int64, uid uint32) store.EmailRef {
		t.Helper()
		refs, err := es.EmailRefs(e.ctx, mb, []uint32{uid})
		e.must(err)
		r, ok := refs[uid]
		if !ok {
			t.Fatalf("EmailRefs(%d, %d): none", mb, uid)
		}
		return r
	}
	deliver := func(acc int64, box, content string) store.EmailRef {
		t.Helper()
		d := e.deliver(acc, box, content)
		return ref(d.MailboxID, d.UID)
	}
	ra := deliver(a.ID, "INBOX", mail("a", "Plan", ""))
	rb := deliver(a.ID, "INBOX", mail("b", "Re: Plan", "<a@example.net>"))
	rc := deliver(a.ID, "Sent", mail("c", "Re: Plan", "<a@example.net> <b@example.net>"))
	rd := deliver(a.ID, "INBOX", mail("d", "Other", ""))
	re := deliver(a.ID, "INBOX", mail("", "RE: [list] Other", ""))
	rf := deliver(a.ID, "INBOX", mail("f", "Lunch", "<unknown@example.net>"))
	rg := deliver(a.ID, "INBOX", mail("g", "Re: Dinner", "<h@example.net>"))
	rh := deliver(a.ID, "INBOX", mail("h", "Dinner", ""))
	ro := deliver(other.ID, "INBOX", mail("a", "Plan", ""))
	ids := map[int64]bool{}
	for _, r := range []store.EmailRef{ra, rb, rc, rd, re, rf, rg, rh, ro} {
		if r.EmailID == 0 || ids[r.EmailID] {
			t.Fatalf("Email ids not distinct: %+v", r)
		}
		ids[r.EmailID] = true
	}
	same := func(what string, x, y store.EmailRef, want bool) {
		t.Helper()
		if (x.ThreadID == y.ThreadID) != want {
			t.Errorf("%s: threads %d and %d, same = %t, want %t", what, x.ThreadID, y.ThreadID, !want, want)
		}
	}
	same("reply by References", ra, rb, true)
	same("reply in another mailbox", ra, rc, true)
	same("unrelated subject", ra, rd, false)
	same("reply by base subject", rd, re, true)
	same("unknown parent, new subject", rf, ra, false)
	same("parent arriving after its reply", rg, rh, true)
	same("another account", ra, ro, false)
	if ra.ThreadID == 0 || ra.ThreadID == ro.ThreadID {
		t.Fatalf("thread ids %d, %d", ra.ThreadID, ro.ThreadID)
	}

	// Copy: a new Email in the same thread. Move: the same Email.
	pairs, err := e.s.Copy(e.ctx, inbox.ID, store.UIDSet{{Start: ra.UID, Stop: ra.UID}}, archive.ID)
	e.must(err)
	rcopy := ref(archive.ID, pairs[0].Dst)
	if rcopy.EmailID == ra.EmailID || rcopy.ThreadID != ra.ThreadID {
		t.Fatalf("copy %+v of %+v: want a new id in the same thread", rcopy, ra)
	}
	pairs, err = e.s.Move(e.ctx, inbox.ID, store.UIDSet{{Start: rb.UID, Stop: rb.UID}}, archive.ID)
	e.must(err)
	rmoved := ref(archive.ID, pairs[0].Dst)
	if rmoved.EmailID != rb.EmailID || rmoved.ThreadID != rb.ThreadID {
		t.Fatalf("moved %+v, was %+v: want the same id and thread", rmoved, rb)
	}
	if gone := ref(inbox.ID, rb.UID); gone.EmailID != rb.EmailID || gone.ThreadID != rb.ThreadID {
		t.Fatalf("expunged source UID %d has %+v, want the ids of %+v", rb.UID, gone, rb)
	}
	for _, m := range e.messages(archive.ID, store.UIDSet{{Start: rmoved.UID, Stop: rmoved.UID}}) {
		if m.EmailID != rb.EmailID || m.ThreadID != rb.ThreadID {
			t.Fatalf("Messages gives %+v, want the ids of %+v", m, rb)
		}
	}

	found, err := es.FindEmails(e.ctx, a.ID, []int64{ra.EmailID, rb.EmailID, ro.EmailID, 1 << 60})
	e.must(err)
	if len(found) != 2 || found[ra.EmailID] != ra || found[rb.EmailID] != rmoved {
		t.Fatalf("FindEmails = %+v", found)
	}
	thread, err := es.ThreadEmails(e.ctx, a.ID, ra.ThreadID, 100)
	e.must(err)
	got := fmt.Sprint(thread)
	if want := fmt.Sprint([]store.EmailRef{ra, rcopy, rmoved, rc}); got != want {
		t.Fatalf("ThreadEmails = %s, want %s (by date, then id)", got, want)
	}
	if l, err := es.ThreadEmails(e.ctx, a.ID, ra.ThreadID, 2); err != nil || len(l) != 2 {
		t.Fatalf("ThreadEmails limit 2: %v %v", l, err)
	}
	if l, err := es.ThreadEmails(e.ctx, other.ID, ra.ThreadID, 100); err != nil || len(l) != 0 {
		t.Fatalf("another account's ThreadEmails: %v %v", l, err)
	}
}
