package metrics

import (
	"net"
	"testing"
)

func TestReason(t *testing.T) {
	for in, want := range map[string]string{
		"550 5.7.1 Relaying denied":     "550 5.7.1",
		"451 4.7.1 Try again later":     "451 4.7.1",
		"554 Transaction failed":        "554",
		"data read failed: EOF":         "other",
		"":                              "other",
		"452 4.3.1 Insufficient system": "452 4.3.1",
	} {
		if got := Reason(in); got != want {
			t.Errorf("Reason(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestListenerSessions: a connection accepted through Listener counts
// as an open session until it is closed (twice closing counts once).
func TestListenerSessions(t *testing.T) {
	m := New()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := m.Listener("imap", raw)
	defer l.Close()
	open := func() float64 {
		for _, c := range m.Snapshot("pochta_sessions_open") {
			if c.Labels == "service=imap" {
				return c.Value
			}
		}
		return -1
	}
	client, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if n := open(); n != 1 {
		t.Fatalf("open sessions = %v, want 1", n)
	}
	server.Close()
	server.Close()
	if n := open(); n != 0 {
		t.Fatalf("open sessions after close = %v, want 0", n)
	}
}
