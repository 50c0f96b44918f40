package imapserver

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/hex"
	"io"
	"math/rand"
	"net"
	"testing"
	"time"
)

func TestInflateRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	var text bytes.Buffer
	for text.Len() < 200000 {
		text.WriteString("a1 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER]) ")
		text.WriteByte(byte(rng.Intn(256)))
	}
	random := make([]byte, 70000)
	rng.Read(random)
	for _, data := range [][]byte{text.Bytes(), random, nil, []byte("x")} {
		for _, level := range []int{flate.NoCompression, flate.BestSpeed, 5, flate.BestCompression, flate.HuffmanOnly} {
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, level)
			for i := 0; i < len(data); {
				n := min(1+rng.Intn(9000), len(data)-i)
				w.Write(data[i : i+n])
				if rng.Intn(2) == 0 {
					w.Flush()
				}
				i += n
			}
			w.Close()
			got, err := io.ReadAll(newInflater(bufio.NewReader(&buf)))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("level %d: %v, %d bytes vs %d", level, err, len(got), len(data))
			}
		}
	}
}

// mbsync flushes with Z_PARTIAL_FLUSH; the command must be readable
// without further input.
func TestInflatePartialFlush(t *testing.T) {
	stream, _ := hex.DecodeString("3256f0f10c0e5150525250d252e2e50208") // `3 LIST "" "*"` CRLF
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go a.Write(stream)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(newInflater(bufio.NewReader(b))).ReadString('\n')
	if err != nil || line != "3 LIST \"\" \"*\"\r\n" {
		t.Fatalf("%q %v", line, err)
	}
}

func FuzzInflate(f *testing.F) {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, 5)
	w.Write([]byte("a LOGIN x y\r\nb NOOP\r\n"))
	w.Flush()
	f.Add(buf.Bytes())
	stream, _ := hex.DecodeString("3256f0f10c0e5150525250d252e2e50208")
	f.Add(stream)
	f.Fuzz(func(t *testing.T, b []byte) {
		io.Copy(io.Discard, io.LimitReader(newInflater(bufio.NewReader(bytes.NewReader(b))), 1<<20))
	})
}
