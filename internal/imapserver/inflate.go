package imapserver

import (
	"bufio"
	"errors"
	"io"
)

// inflater decodes a raw DEFLATE stream (RFC 1951) for COMPRESS=DEFLATE
// (RFC 4978). Unlike compress/flate it hands out decoded bytes as soon as
// the input buffered so far is used up, so a client that flushes with
// Z_PARTIAL_FLUSH (an empty fixed-Huffman block, not byte-aligned, as
// mbsync does) is answered without waiting for more input.
type inflater struct {
	r      *bufio.Reader
	bits   uint64
	nbits  uint
	err    error
	out    []byte
	outPos int
	window [1 << 15]byte
	wpos   int
	filled bool // window has wrapped

	inBlock bool
	final   bool
	stored  int // bytes left in a stored block; -1 when in a Huffman block
	lit     *huffman
	dist    *huffman
}

var errInflate = errors.New("inflate: corrupt stream")

func newInflater(r *bufio.Reader) *inflater { return &inflater{r: r} }

// huffman is a canonical Huffman code: count[n] codes of length n, and
// the symbols ordered by code.
type huffman struct {
	count  [16]uint16
	symbol []uint16
}

func newHuffman(lengths []uint8) (*huffman, bool) {
	h := &huffman{symbol: make([]uint16, 0, len(lengths))}
	for _, l := range lengths {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for n := 1; n < 16; n++ {
		left <<= 1
		left -= int(h.count[n])
		if left < 0 {
			return nil, false // over-subscribed
		}
	}
	for n := 1; n < 16; n++ {
		for s, l := range lengths {
			if int(l) == n {
				h.symbol = append(h.symbol, uint16(s))
			}
		}
	}
	return h, true
}

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	codeOrder   = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

func fixedTables() (*huffman, *huffman) {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	lit, _ := newHuffman(l[:])
	var d [30]uint8
	for i := range d {
		d[i] = 5
	}
	dist, _ := newHuffman(d[:])
	return lit, dist
}

// need makes n bits available, reading (and possibly blocking) as needed.
func (z *inflater) need(n uint) bool {
	for z.nbits < n {
		b, err := z.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			z.err = err
			return false
		}
		z.bits |= uint64(b) << z.nbits
		z.nbits += 8
	}
	return true
}

func (z *inflater) take(n uint) (int, bool) {
	if !z.need(n) {
		return 0, false
	}
	v := int(z.bits & (1<<n - 1))
	z.bits >>= n
	z.nbits -= n
	return v, true
}

// decode reads one symbol, bit by bit (canonical code order).
func (z *inflater) decode(h *huffman) (int, bool) {
	code, first, index := 0, 0, 0
	for n := 1; n < 16; n++ {
		b, ok := z.take(1)
		if !ok {
			return 0, false
		}
		code |= b
		count := int(h.count[n])
		if code-first < count {
			return int(h.symbol[index+code-first]), true
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	z.err = errInflate
	return 0, false
}

func (z *inflater) emit(b byte) {
	z.out = append(z.out, b)
	z.window[z.wpos] = b
	z.wpos++
	if z.wpos == len(z.window) {
		z.wpos, z.filled = 0, true
	}
}

// availableBits is how many input bits can be had without blocking.
func (z *inflater) availableBits() uint { return z.nbits + 8*uint(z.r.Buffered()) }

func (z *inflater) Read(p []byte) (int, error) {
	for z.outPos >= len(z.out) {
		z.out, z.outPos = z.out[:0], 0
		if z.err != nil {
			return 0, z.err
		}
		z.step()
	}
	n := copy(p, z.out[z.outPos:])
	z.outPos += n
	return n, nil
}

// step decodes until some output is ready and going on could block.
func (z *inflater) step() {
	for z.err == nil {
		if len(z.out) >= 16<<10 {
			return
		}
		if !z.inBlock {
			if len(z.out) > 0 {
				return
			}
			if z.final {
				z.err = io.EOF
				return
			}
			z.startBlock()
			continue
		}
		if z.stored >= 0 {
			if z.stored == 0 {
				z.inBlock = false
				continue
			}
			if len(z.out) > 0 && z.r.Buffered() == 0 {
				return
			}
			b, err := z.r.ReadByte()
			if err != nil {
				z.err = io.ErrUnexpectedEOF
				return
			}
			z.emit(b)
			z.stored--
			continue
		}
		// Longest symbol pair: 15 + 5 + 15 + 13 bits.
		if len(z.out) > 0 && z.availableBits() < 48 {
			return
		}
		sym, ok := z.decode(z.lit)
		if !ok {
			return
		}
		switch {
		case sym < 256:
			z.emit(byte(sym))
		case sym == 256:
			z.inBlock = false
		default:
			sym -= 257
			if sym >= 29 {
				z.err = errInflate
				return
			}
			extra, ok := z.take(uint(lengthExtra[sym]))
			if !ok {
				return
			}
			length := int(lengthBase[sym]) + extra
			ds, ok := z.decode(z.dist)
			if !ok {
				return
			}
			if ds >= 30 {
				z.err = errInflate
				return
			}
			dextra, ok := z.take(uint(distExtra[ds]))
			if !ok {
				return
			}
			dist := int(distBase[ds]) + dextra
			if dist > len(z.window) || (!z.filled && dist > z.wpos) {
				z.err = errInflate
				return
			}
			for i := 0; i < length; i++ {
				z.emit(z.window[(z.wpos-dist+len(z.window))%len(z.window)])
			}
		}
	}
}

func (z *inflater) startBlock() {
	hdr, ok := z.take(3)
	if !ok {
		return
	}
	z.final = hdr&1 == 1
	switch hdr >> 1 {
	case 0: // stored
		z.bits >>= z.nbits % 8
		z.nbits -= z.nbits % 8
		v, ok := z.take(32)
		if !ok {
			return
		}
		if uint16(v) != ^uint16(v>>16) {
			z.err = errInflate
			return
		}
		z.stored = int(uint16(v))
	case 1:
		z.lit, z.dist = fixedTables()
		z.stored = -1
	case 2:
		if !z.dynamicTables() {
			return
		}
		z.stored = -1
	default:
		z.err = errInflate
		return
	}
	z.inBlock = true
}

func (z *inflater) dynamicTables() bool {
	hlit, ok1 := z.take(5)
	hdist, ok2 := z.take(5)
	hclen, ok3 := z.take(4)
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	nlit, ndist := hlit+257, hdist+1
	if nlit > 286 || ndist > 30 {
		z.err = errInflate
		return false
	}
	var cl [19]uint8
	for i := 0; i < hclen+4; i++ {
		v, ok := z.take(3)
		if !ok {
			return false
		}
		cl[codeOrder[i]] = uint8(v)
	}
	clh, ok := newHuffman(cl[:])
	if !ok {
		z.err = errInflate
		return false
	}
	lengths := make([]uint8, nlit+ndist)
	for i := 0; i < len(lengths); {
		sym, ok := z.decode(clh)
		if !ok {
			return false
		}
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				z.err = errInflate
				return false
			}
			val = lengths[i-1]
			v, ok := z.take(2)
			if !ok {
				return false
			}
			rep = 3 + v
		case 17:
			v, ok := z.take(3)
			if !ok {
				return false
			}
			rep = 3 + v
		default:
			v, ok := z.take(7)
			if !ok {
				return false
			}
			rep = 11 + v
		}
		if i+rep > len(lengths) {
			z.err = errInflate
			return false
		}
		for ; rep > 0; rep-- {
			lengths[i] = val
			i++
		}
	}
	if lengths[256] == 0 {
		z.err = errInflate
		return false
	}
	lit, ok1b := newHuffman(lengths[:nlit])
	dist, ok2b := newHuffman(lengths[nlit:])
	if !ok1b || !ok2b {
		z.err = errInflate
		return false
	}
	z.lit, z.dist = lit, dist
	return true
}
