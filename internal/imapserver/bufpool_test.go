package imapserver

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The writer holds a pooled buffer only between its first write and the
// flush, and what it wrote arrives whole.
func TestWriterReturnsBufferAtFlush(t *testing.T) {
	_, writers := newBufPools()
	var dst bytes.Buffer
	w := newWriter(&dst, writers)
	if w.bw != nil {
		t.Fatal("a new writer holds a buffer")
	}
	w.untagged("OK one")
	if w.bw == nil {
		t.Fatal("no buffer while writing")
	}
	w.str(strings.Repeat("x", 3*bufSize)) // more than one buffer's worth
	w.str("\r\n")
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if w.bw != nil {
		t.Fatal("the buffer is still held after flush")
	}
	w.tagged("a", "OK", "two")
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	want := "* OK one\r\n" + strings.Repeat("x", 3*bufSize) + "\r\na OK two\r\n"
	if dst.String() != want {
		t.Fatalf("wrote %d bytes, want %d", dst.Len(), len(want))
	}
}

// wakeReader hands the byte it waited for to the next Read, before the
// rest of the stream, and reports a read error from wait.
func TestWakeReader(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	wr := &wakeReader{r: server}
	done := make(chan error, 1)
	go func() { done <- wr.wait() }()
	client.Write([]byte("a"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	go func() { client.Write([]byte(" NOOP\r\n")) }()
	br := bufio.NewReader(wr)
	line, err := br.ReadString('\n')
	if err != nil || line != "a NOOP\r\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	server.SetReadDeadline(time.Now())
	if err := wr.wait(); err == nil {
		t.Fatal("wait after the deadline returned no error")
	}
	client.Close()
	server.SetReadDeadline(time.Time{})
	if err := wr.wait(); err != io.EOF {
		t.Fatalf("wait on a closed pipe: %v", err)
	}
}

// A session that waits without a read buffer must lose nothing of what
// the client sends: a command sent byte by byte, two commands in one
// write, and DONE followed at once by the next command in IDLE.
func TestSessionInputAcrossBufferRelease(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.login()
	cmd := "n1 NOOP\r\n"
	for i := 0; i < len(cmd); i++ {
		c.send(cmd[i : i+1])
	}
	if _, tagged := c.until("n1"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("byte by byte: %q", tagged)
	}
	c.send("p1 SELECT INBOX\r\np2 NOOP\r\n")
	if _, tagged := c.until("p1"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("pipelined SELECT: %q", tagged)
	}
	if _, tagged := c.until("p2"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("pipelined NOOP: %q", tagged)
	}
	c.send("i1 IDLE\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE continuation: %q", l)
	}
	e.deliver("", testMessage(1, "while idle"))
	if l := c.line(); l != "* 1 EXISTS" {
		t.Fatalf("in IDLE: %q", l)
	}
	c.send("DONE\r\nd1 NOOP\r\n")
	lines, tagged := c.until("i1")
	if !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("IDLE end: %q %q", lines, tagged)
	}
	if _, tagged := c.until("d1"); !strings.HasPrefix(tagged, "OK") {
		t.Fatalf("command after DONE: %q", tagged)
	}
}
