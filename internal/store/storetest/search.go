package storetest

import (
	"slices"
	"strings"
	"testing"

	"pochta/internal/store"
)

func testSearch(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	m1 := "From: \"Zoë Müller\" <zoe@muller.example>\r\n" +
		"To: Bob <bob@example.org>\r\n" +
		"Cc: team@example.org\r\n" +
		"Subject: =?UTF-8?Q?Quarterly_r=C3=A9port?=\r\n" +
		"X-Priority: 1 (Highest)\r\n" +
		"List-Id: Go Nuts <golang-nuts.googlegroups.com>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n" +
		"\r\n" +
		"The numbers are=20in: revenue UP by 12 percent.\r\n"
	m2 := "From: alice@example.net\r\n" +
		"To: bob@example.org\r\n" +
		"Bcc: secret@example.org\r\n" +
		"Subject: lunch?\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=BOUND\r\n" +
		"\r\n" +
		"--BOUND\r\n" +
		"Content-Type: text/plain\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n" +
		"UGl6emEgYXQgbm9vbj8=\r\n" + // "Pizza at noon?"
		"--BOUND\r\n" +
		"Content-Type: text/html\r\n" +
		"\r\n" +
		"<html><body><p>Sushi &amp; ramen</p></body></html>\r\n" +
		"--BOUND\r\n" +
		"Content-Type: application/octet-stream\r\n" +
		"\r\n" +
		"binaryneedle\r\n" +
		"--BOUND--\r\n"
	m3 := msg("unrelated", "nothing to see")
	// KOI8-R body "Привет мир" and a windows-1252 encoded-word subject.
	m4 := "Subject: =?windows-1252?Q?caf=E9_cr=E8me?=\r\n" +
		"Content-Type: text/plain; charset=koi8-r\r\n" +
		"\r\n" +
		"\xf0\xd2\xc9\xd7\xc5\xd4 \xcd\xc9\xd2\r\n"
	for _, c := range []string{m1, m2, m3, m4} {
		e.deliver(a.ID, "", c)
	}
	cases := []struct {
		field store.SearchField
		value string
		want  []uint32
	}{
		{store.SearchSubject, "RÉPORT", []uint32{1}},
		{store.SearchSubject, "quarterly", []uint32{1}},
		{store.SearchSubject, "?", []uint32{2}},
		{store.SearchSubject, "nr", []uint32{3}},
		{store.SearchFrom, "müller", []uint32{1}},
		{store.SearchFrom, "ZOE@MULLER", []uint32{1}},
		{store.SearchFrom, "example", []uint32{1, 2, 3}},
		{store.SearchTo, "bob", []uint32{1, 2, 3}},
		{store.SearchCc, "team@", []uint32{1}},
		{store.SearchBcc, "secret", []uint32{2}},
		{store.SearchBcc, "team", nil},
		{store.SearchBody, "revenue up", []uint32{1}},
		{store.SearchBody, "are in", []uint32{1}},
		{store.SearchBody, "pizza at noon", []uint32{2}},
		{store.SearchBody, "sushi & ramen", []uint32{2}},
		{store.SearchBody, "html", nil},
		{store.SearchBody, "binaryneedle", nil},
		{store.SearchBody, "12", []uint32{1}},
		{store.SearchBody, "quarterly", nil},
		{store.SearchText, "quarterly", []uint32{1}},
		{store.SearchText, "pizza", []uint32{2}},
		{store.SearchText, "message-id", []uint32{3}},
		{store.SearchSubject, "", []uint32{1, 2, 3, 4}},
		{store.SearchSubject, "does-not-occur", nil},
		{store.SearchSubject, `"quoted"`, nil},
		{"header:x-priority", "highest", []uint32{1}},
		{"header:X-Priority", "", []uint32{1}},
		{"header:list-id", "golang-nuts", []uint32{1}},
		{"header:list-id", "go", []uint32{1}},
		{"header:mime-version", "", []uint32{2}},
		{"header:subject", "lunch", []uint32{2}},
		{"header:x-missing", "", nil},
		{store.SearchSubject, "CAFÉ CRÈME", []uint32{4}},
		{store.SearchBody, "привет", []uint32{4}},
		{store.SearchBody, "МИР", []uint32{4}},
	}
	for _, c := range cases {
		got, err := e.s.Search(e.ctx, inbox.ID, c.field, c.value)
		if err != nil {
			t.Errorf("Search(%s, %q): %v", c.field, c.value, err)
			continue
		}
		if !slices.Equal(got, c.want) && (len(got) != 0 || len(c.want) != 0) {
			t.Errorf("Search(%s, %q) = %v, want %v", c.field, c.value, got, c.want)
		}
	}
	// The index follows copies and expunges, and is per mailbox.
	arch := e.mailbox(a.ID, "Archive")
	_, err := e.s.Copy(e.ctx, inbox.ID, store.UIDSet{{Start: 2, Stop: 2}}, arch.ID)
	e.must(err)
	got, err := e.s.Search(e.ctx, arch.ID, store.SearchBody, "pizza")
	e.must(err)
	eqUIDs(t, "search in copy", got, []uint32{1})
	_, _, err = e.s.SetFlags(e.ctx, inbox.ID, nil, store.FlagsAdd, []string{`\Deleted`}, 0)
	e.must(err)
	_, err = e.s.Expunge(e.ctx, inbox.ID, nil)
	e.must(err)
	got, err = e.s.Search(e.ctx, inbox.ID, store.SearchBody, "pizza")
	e.must(err)
	eqUIDs(t, "search after expunge", got, nil)
	got, err = e.s.Search(e.ctx, arch.ID, store.SearchBody, "pizza")
	e.must(err)
	eqUIDs(t, "copy still found", got, []uint32{1})
	_, err = e.s.Search(e.ctx, 987654, store.SearchBody, "x")
	e.wantErr(err, store.ErrNotFound)
}

func testSearchBroken(t *testing.T, e *env) {
	a := e.account("bob@example.org")
	inbox := e.mailbox(a.ID, "INBOX")
	broken := []string{
		"",
		"no header at all, just text findme1\r\n",
		"Subject: findme2\r\nthis line is not a header\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Transfer-Encoding: bogus\r\n\r\nfindme3\r\n",
		"Subject: truncated multipart\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nfindme4",
		"Subject: bad charset\r\nContent-Type: text/plain; charset=x-no-such\r\n\r\nfindme5\r\n",
		"Subject: =?bogus?Q?findme6?=\r\n\r\n\xff\xfe binary \x00 body\r\n",
		"Subject: bad base64\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
		"X-Long: " + strings.Repeat("a", 300<<10) + "\r\nSubject: after long\r\n\r\nfindme8\r\n",
	}
	for i, c := range broken {
		d := e.deliver(a.ID, "", c)
		if e.content(inbox.ID, d.UID) != c {
			t.Fatalf("broken message %d altered", i)
		}
	}
	got, err := e.s.Search(e.ctx, inbox.ID, store.SearchSubject, "findme2")
	e.must(err)
	eqUIDs(t, "subject despite broken header line", got, []uint32{3})
	got, err = e.s.Search(e.ctx, inbox.ID, store.SearchText, "findme4")
	e.must(err)
	eqUIDs(t, "truncated multipart", got, []uint32{4})
	got, err = e.s.Search(e.ctx, inbox.ID, store.SearchBody, "findme5")
	e.must(err)
	eqUIDs(t, "unknown charset", got, []uint32{5})
	got, err = e.s.Search(e.ctx, inbox.ID, store.SearchSubject, "findme6")
	e.must(err)
	eqUIDs(t, "bad encoded word", got, []uint32{6})
	got, err = e.s.Search(e.ctx, inbox.ID, store.SearchBody, "findme8")
	e.must(err)
	eqUIDs(t, "after a very long header line", got, []uint32{8})
}
