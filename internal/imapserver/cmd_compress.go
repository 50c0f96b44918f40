package imapserver

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
)

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
	s.br = bufio.NewReaderSize(flate.NewReader(in), 4096)
	s.cr.r = s.br
	fl, _ := flate.NewWriter(s.conn, 5)
	s.w = &writer{bw: bufio.NewWriterSize(fl, 4096), fl: fl}
	return "", nil
}
