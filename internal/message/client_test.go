package message

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestClientParsesOutput serves our ENVELOPE and BODY/BODYSTRUCTURE strings
// to go-imap's real client over a loopback connection and checks that the
// client's parse of them matches the part tree, i.e. that the output is
// syntactically valid IMAP (including literals) and means what we intend.
func TestClientParsesOutput(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) == 0 {
		t.Fatal("no test messages")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := Parse(raw)
		for _, extended := range []bool{false, true} {
			t.Run(filepath.Base(f), func(t *testing.T) {
				buf := fetchOverLoopback(t, m, extended)
				if buf.Envelope == nil || buf.BodyStructure == nil {
					t.Fatal("client got no envelope or body structure")
				}
				env := m.Envelope()
				if buf.Envelope.MessageID != strings.Trim(env.MessageID, "<>") {
					t.Errorf("message-id %q vs %q", buf.Envelope.MessageID, env.MessageID)
				}
				if got, want := len(buf.Envelope.From), len(env.From); got != want {
					t.Errorf("client sees %d From addresses, want %d", got, want)
				}
				if want := decodeHeader(env.Subject); buf.Envelope.Subject != want && buf.Envelope.Subject != env.Subject {
					t.Errorf("subject %q, want %q", buf.Envelope.Subject, want)
				}
				compareStructure(t, m, buf.BodyStructure, extended)
			})
		}
	}
}

func compareStructure(t *testing.T, m *Message, bs imap.BodyStructure, extended bool) {
	t.Helper()
	visited := 0
	bs.Walk(func(path []int, node imap.BodyStructure) bool {
		visited++
		var p *Part
		if len(path) == 0 {
			p = m.Root()
		} else {
			p = m.Lookup(path)
		}
		if p == nil {
			t.Errorf("client has part %v that we do not", path)
			return false
		}
		if len(path) == 0 && p.Type != "multipart" {
			// A single-part message: the client's root is our part 1.
			p = m.Lookup([]int{1})
		}
		if got, want := node.MediaType(), p.Type+"/"+p.Subtype; got != want {
			t.Errorf("part %v: client type %s, want %s", path, got, want)
		}
		switch n := node.(type) {
		case *imap.BodyStructureSinglePart:
			if int(n.Size) != p.End-p.BodyStart {
				t.Errorf("part %v: size %d, want %d", path, n.Size, p.End-p.BodyStart)
			}
			if !strings.EqualFold(n.Encoding, p.Encoding) {
				t.Errorf("part %v: encoding %s, want %s", path, n.Encoding, p.Encoding)
			}
			if len(n.Params) != len(p.Params) {
				t.Errorf("part %v: params %v, want %v", path, n.Params, p.Params)
			}
			if p.Type == "text" && (n.Text == nil || int(n.Text.NumLines) != p.Lines) {
				t.Errorf("part %v: text lines %+v, want %d", path, n.Text, p.Lines)
			}
			if p.Embedded != nil && (n.MessageRFC822 == nil || int(n.MessageRFC822.NumLines) != p.Lines) {
				t.Errorf("part %v: message/rfc822 data %+v", path, n.MessageRFC822)
			}
			if (n.Extended != nil) != extended {
				t.Errorf("part %v: extension data present=%v, want %v", path, n.Extended != nil, extended)
			}
		case *imap.BodyStructureMultiPart:
			if len(n.Children) != len(p.Children) {
				t.Errorf("part %v: %d children, want %d", path, len(n.Children), len(p.Children))
			}
			if extended && (n.Extended == nil || !reflect.DeepEqual(lowerKeys(n.Extended.Params), p.Params)) {
				t.Errorf("part %v: multipart params %+v, want %v", path, n.Extended, p.Params)
			}
		}
		return true
	})
	if visited == 0 {
		t.Error("client walked no parts")
	}
}

func lowerKeys(in map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		out[strings.ToLower(k)] = v
	}
	return out
}

// fetchOverLoopback runs a minimal scripted IMAP responder on 127.0.0.1 that
// answers one FETCH with the message's ENVELOPE and BODY[STRUCTURE].
func fetchOverLoopback(t *testing.T, m *Message, extended bool) *imapclient.FetchMessageBuffer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		w := bufio.NewWriter(conn)
		r := bufio.NewReader(conn)
		w.WriteString("* OK [CAPABILITY IMAP4rev1] test responder ready\r\n")
		w.Flush()
		line, err := r.ReadString('\n')
		if err != nil {
			done <- err
			return
		}
		tag, _, _ := strings.Cut(line, " ")
		item := "BODY " + m.BodyStructure(false)
		if extended {
			item = "BODYSTRUCTURE " + m.BodyStructure(true)
		}
		w.WriteString("* 1 FETCH (ENVELOPE " + m.Envelope().IMAP() + " " + item + ")\r\n")
		w.WriteString(tag + " OK FETCH completed\r\n")
		done <- w.Flush()
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := imapclient.New(conn, nil)
	defer c.Close()
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		Envelope:      true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: extended},
	}).Collect()
	if err != nil {
		t.Fatalf("client fetch: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("responder: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
	return msgs[0]
}
