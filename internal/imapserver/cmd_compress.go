package imapserver

import (
	"bufio"
	"bytes"
	"io"
)

// maxCompressed bounds concurrent COMPRESS=DEFLATE sessions server-wide.
const maxCompressed = 256

// cmdCompress: COMPRESS DEFLATE (RFC 4978): raw deflate both ways from
// the byte after the tagged OK.
func (s *session) cmdCompress(tag string, p *parser, uid bool) (string, error) {
	if err := p.sp(); err != nil {
		return "", err
	}
	alg, err := p.keyword()
	if err != nil {
		return "", err
	}
	if err := p.end(); err != nil {
		return "", err
	}
	if alg != "DEFLATE" {
		return "", bad("", "Unsupported compression algorithm")
	}
	if s.compress {
		return "", no("COMPRESSIONACTIVE", "Compression already active")
	}
	// A deflate writer costs ~0.8 MB; bound how many sessions hold one.
	if s.srv.compressed.Add(1) > maxCompressed {
		s.srv.compressed.Add(-1)
		return "", no("LIMIT", "Too many compressed sessions; continue without compression")
	}
	s.w.tagged(tag, "OK", "DEFLATE active")
	if err := s.flush(); err != nil {
		return "", err
	}
	s.compress = true
	var in io.Reader = s.conn
	if n := s.br.Buffered(); n > 0 {
		pending, _ := s.br.Peek(n)
		in = io.MultiReader(bytes.NewReader(append([]byte(nil), pending...)), s.conn)
	}
	// Our own inflater: compress/flate would sit on data a client flushed
	// with Z_PARTIAL_FLUSH until more input arrives (see inflate.go).
	s.releaseReader()
	s.br = bufio.NewReaderSize(newInflater(bufio.NewReaderSize(in, bufSize)), bufSize)
	s.cr.r = s.br
	s.w = newDeflateWriter(s.conn)
	return "", nil
}
