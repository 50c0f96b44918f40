package mda

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"pochta/internal/envelope"
	"pochta/internal/reply"
	"pochta/internal/store"
	"pochta/internal/store/sqlite"
)

type fixture struct {
	st  *sqlite.Store
	d   *Deliverer
	ids map[string]int64
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, d: New(st, st, nil, nil), ids: map[string]int64{}}
	for _, d := range []string{"a.test", "b.test"} {
		if err := st.AddDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"kate@a.test", "john@a.test", "boss@b.test"} {
		acct, err := st.AddAccount(ctx, u, "x")
		if err != nil {
			t.Fatal(err)
		}
		f.ids[u] = acct.ID
	}
	must(t, st.AddAlias(ctx, "team@a.test", []string{"kate@a.test", "john@a.test"}))
	must(t, st.AddAlias(ctx, "loop1@a.test", []string{"loop2@a.test"}))
	must(t, st.AddAlias(ctx, "loop2@a.test", []string{"loop1@a.test"}))
	must(t, st.AddAlias(ctx, "out@a.test", []string{"someone@remote.test"}))
	must(t, st.SetCatchAll(ctx, "b.test", "boss@b.test"))
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) inbox(t *testing.T, addr string) []string {
	t.Helper()
	ctx := context.Background()
	mb, err := f.st.GetMailbox(ctx, f.ids[addr], "INBOX")
	must(t, err)
	var bodies []string
	uids, err := f.st.UIDs(ctx, mb.ID)
	must(t, err)
	for _, uid := range uids {
		r, err := f.st.Open(ctx, mb.ID, uid)
		must(t, err)
		b, _ := io.ReadAll(r)
		r.Close()
		bodies = append(bodies, string(b))
	}
	return bodies
}

func TestCheckRecipient(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	cases := map[string]*reply.Error{
		"kate@a.test":         nil,
		"KATE@A.TEST":         nil,
		"kate+news@a.test":    nil,
		"team@a.test":         nil,
		"anyone@b.test":       nil, // catch-all
		"nobody@a.test":       reply.ErrNoMailbox,
		"nobody+x@a.test":     reply.ErrNoMailbox,
		"kate@elsewhere.test": reply.ErrNoRelay,
		"out@a.test":          {Code: 550, Enhanced: "5.7.1"}, // no forwarder configured
	}
	for addr, want := range cases {
		err := f.d.CheckRecipient(ctx, addr, 0)
		if want == nil {
			if err != nil {
				t.Errorf("%s: %v", addr, err)
			}
			continue
		}
		got, ok := reply.As(err)
		if !ok || got.Code != want.Code || got.Enhanced != want.Enhanced {
			t.Errorf("%s: got %v, want %v", addr, err, want)
		}
	}
	if _, err := f.d.Expand(ctx, "loop1@a.test"); err == nil {
		t.Error("alias loop expanded to something")
	}
}

func TestQuota(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	must(t, f.st.SetQuota(ctx, "kate@a.test", 1000))
	if err := f.d.CheckRecipient(ctx, "kate@a.test", 5000); !errors.Is(err, reply.ErrQuota) {
		t.Fatalf("announced size over quota: %v", err)
	}
	msg := []byte("Subject: big\r\n\r\n" + strings.Repeat("x", 1200) + "\r\n")
	errs := f.d.Deliver(ctx, envelope.Envelope{From: "a@r.test", Recipients: []envelope.Recipient{{Address: "kate@a.test"}, {Address: "john@a.test"}}}, msg)
	if !errors.Is(errs[0], reply.ErrQuota) || errs[1] != nil {
		t.Fatalf("deliver over quota: %v", errs)
	}
	if len(f.inbox(t, "john@a.test")) != 1 || len(f.inbox(t, "kate@a.test")) != 0 {
		t.Fatal("over-quota delivery stored or other recipient lost")
	}
}

func TestDeliverDedupAndReturnPath(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	env := envelope.Envelope{From: "sender@r.test", Recipients: []envelope.Recipient{
		{Address: "team@a.test"}, {Address: "kate@a.test"}, {Address: "x@b.test"},
	}}
	errs := f.d.Deliver(ctx, env, []byte("Return-Path: <forged@x>\r\nSubject: hi\r\n\r\nbody\r\n"))
	for i, err := range errs {
		if err != nil {
			t.Fatalf("rcpt %d: %v", i, err)
		}
	}
	kate := f.inbox(t, "kate@a.test")
	if len(kate) != 1 {
		t.Fatalf("kate got %d copies", len(kate))
	}
	if !strings.HasPrefix(kate[0], "Return-Path: <sender@r.test>\r\nSubject: hi") {
		t.Fatalf("content %q", kate[0])
	}
	if len(f.inbox(t, "john@a.test")) != 1 || len(f.inbox(t, "boss@b.test")) != 1 {
		t.Fatal("alias or catch-all target missed")
	}
}

func TestOwnsAddress(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	kate, _ := f.st.GetAccount(ctx, "kate@a.test")
	boss, _ := f.st.GetAccount(ctx, "boss@b.test")
	cases := []struct {
		acct store.Account
		addr string
		want bool
	}{
		{kate, "kate@a.test", true}, {kate, "Kate+x@a.test", true}, {kate, "team@a.test", true},
		{kate, "john@a.test", false}, {kate, "kate@b.test", false},
		{boss, "boss@b.test", true}, {boss, "random@b.test", false}, // a catch-all is no licence to forge
	}
	for _, c := range cases {
		got, err := f.d.OwnsAddress(ctx, c.acct, c.addr)
		if err != nil || got != c.want {
			t.Errorf("%s owns %s: %v %v", c.acct.Address, c.addr, got, err)
		}
	}
}
