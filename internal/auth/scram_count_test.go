package auth

import (
	"context"
	"slices"
	"testing"
	"time"

	xdg "github.com/xdg-go/scram"
)

// TestSCRAMCounted: a SCRAM exchange reports its outcome to OnLogin once,
// under the protocol of the ProtoAuthenticator that started it, as Login
// does for PLAIN and LOGIN; a finished exchange asked again adds nothing.
func TestSCRAMCounted(t *testing.T) {
	var got []string
	e := newCacheEnv(t, Options{FailureDelay: time.Millisecond, MaxFailureDelay: 2 * time.Millisecond,
		OnLogin: func(proto, result string) { got = append(got, proto+" "+result) }})
	e.a.opts.SCRAM = e.st
	ctx := context.Background()
	h, _ := Hash("pw")
	if err := e.st.SetPasswordHash(ctx, "kate@example.test", h); err != nil {
		t.Fatal(err)
	}
	if err := SetSCRAMKeys(ctx, e.st, "kate@example.test", h, "pw"); err != nil {
		t.Fatal(err)
	}
	exchange := func(proto, pass string) *Exchange {
		t.Helper()
		cl, err := xdg.SHA256.NewClient("kate@example.test", pass, "")
		if err != nil {
			t.Fatal(err)
		}
		conv := cl.NewConversation()
		x, err := e.a.For(proto).StartSASL("SCRAM-SHA-256", nil, testIP)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := conv.Step("")
		for {
			ch, done, err := x.Next(ctx, []byte(msg))
			if done || err != nil {
				return x
			}
			if msg, err = conv.Step(string(ch)); err != nil {
				t.Fatalf("client refused %q: %v", ch, err)
			}
		}
	}
	x := exchange(ProtoPOP3, "wrong")
	x.Next(ctx, nil) // after the end: not counted again
	exchange(ProtoSMTP, "pw")
	if want := []string{"pop3 failed", "smtp ok"}; !slices.Equal(got, want) {
		t.Fatalf("OnLogin saw %q, want %q", got, want)
	}
}
