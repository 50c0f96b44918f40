package imapserver

import (
	"strconv"
	"strings"

	"pochta/internal/message"
)

// fetchKind is one FETCH data item (RFC 9051 §6.4.5).
type fetchKind int

const (
	fUID fetchKind = iota
	fFlags
	fInternalDate
	fSize
	fEnvelope
	fBody          // BODY (non-extensible BODYSTRUCTURE)
	fBodyStructure // BODYSTRUCTURE
	fSection       // BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT
	fBinary        // BINARY[...], BINARY.PEEK[...]
	fBinarySize    // BINARY.SIZE[...]
	fModSeq
)

// fetchItem is one parsed data item.
type fetchItem struct {
	kind    fetchKind
	peek    bool   // does not set \Seen
	name    string // response name for fSection without brackets ("RFC822.HEADER")
	section message.Section
	label   string // section text echoed in the response, inside [...]
	partial bool
	offset  int64
	count   int64
}

func (it fetchItem) needsContent() bool {
	switch it.kind {
	case fEnvelope, fBody, fBodyStructure, fSection, fBinary, fBinarySize:
		return true
	}
	return false
}

// fetchAtts reads "ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att
// *(SP fetch-att) ")".
func (p *parser) fetchAtts() ([]fetchItem, error) {
	if p.accept('(') {
		var items []fetchItem
		if err := p.listRest(func() error {
			it, err := p.fetchAtt()
			if err != nil {
				return err
			}
			if len(items) >= 100 {
				return errSyntax("too many FETCH items")
			}
			items = append(items, it)
			return nil
		}); err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return nil, errSyntax("empty FETCH item list")
		}
		return items, nil
	}
	save := p.pos
	word := strings.ToUpper(p.takeWhile(isAtomChar))
	fast := []fetchItem{{kind: fFlags}, {kind: fInternalDate}, {kind: fSize}}
	switch word {
	case "ALL":
		return append(fast, fetchItem{kind: fEnvelope}), nil
	case "FAST":
		return fast, nil
	case "FULL":
		return append(fast, fetchItem{kind: fEnvelope}, fetchItem{kind: fBody}), nil
	}
	p.pos = save
	it, err := p.fetchAtt()
	if err != nil {
		return nil, err
	}
	return []fetchItem{it}, nil
}

func (p *parser) fetchAtt() (fetchItem, error) {
	name := strings.ToUpper(p.takeWhile(func(c byte) bool {
		return c == '.' || c == '8' || c == '2' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
	}))
	switch name {
	case "UID":
		return fetchItem{kind: fUID}, nil
	case "FLAGS":
		return fetchItem{kind: fFlags}, nil
	case "INTERNALDATE":
		return fetchItem{kind: fInternalDate}, nil
	case "RFC822.SIZE":
		return fetchItem{kind: fSize}, nil
	case "ENVELOPE":
		return fetchItem{kind: fEnvelope}, nil
	case "BODYSTRUCTURE":
		return fetchItem{kind: fBodyStructure}, nil
	case "MODSEQ":
		return fetchItem{kind: fModSeq}, nil
	case "RFC822":
		return fetchItem{kind: fSection, name: "RFC822"}, nil
	case "RFC822.HEADER":
		return fetchItem{kind: fSection, name: "RFC822.HEADER", peek: true, section: message.Section{Specifier: "HEADER"}}, nil
	case "RFC822.TEXT":
		return fetchItem{kind: fSection, name: "RFC822.TEXT", section: message.Section{Specifier: "TEXT"}}, nil
	case "BODY", "BODY.PEEK":
		if p.peek() != '[' {
			if name == "BODY.PEEK" {
				return fetchItem{}, errSyntax("BODY.PEEK needs a section")
			}
			return fetchItem{kind: fBody}, nil
		}
		it := fetchItem{kind: fSection, peek: name == "BODY.PEEK"}
		if err := p.section(&it); err != nil {
			return it, err
		}
		return it, p.partial(&it)
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		it := fetchItem{kind: fBinary, peek: name == "BINARY.PEEK"}
		if name == "BINARY.SIZE" {
			it.kind = fBinarySize
		}
		if err := p.expect('['); err != nil {
			return it, err
		}
		if p.peek() != ']' {
			part, err := p.sectionPart()
			if err != nil {
				return it, err
			}
			it.section.Part = part
		}
		if err := p.expect(']'); err != nil {
			return it, err
		}
		it.label = partLabel(it.section.Part)
		if it.kind == fBinary {
			return it, p.partial(&it)
		}
		return it, nil
	}
	return fetchItem{}, errSyntax("unknown FETCH item " + name)
}

// sectionPart reads nz-number *("." nz-number), stopping before a
// following ".TEXT"-style specifier.
func (p *parser) sectionPart() ([]int, error) {
	var part []int
	for {
		n, err := p.number()
		if err != nil || n == 0 {
			return nil, errSyntax("bad section part")
		}
		if len(part) >= 100 {
			return nil, errSyntax("section part too deep")
		}
		part = append(part, int(n))
		if p.peek() == '.' && p.pos+1 < len(p.b) && p.b[p.pos+1] >= '0' && p.b[p.pos+1] <= '9' {
			p.pos++
			continue
		}
		return part, nil
	}
}

func partLabel(part []int) string {
	var sb strings.Builder
	for i, n := range part {
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(strconv.Itoa(n))
	}
	return sb.String()
}

// section reads "[" [section-spec] "]".
// maxHeaderFields bounds the names of one HEADER.FIELDS list.
const maxHeaderFields = 200

func (p *parser) section(it *fetchItem) error {
	if err := p.expect('['); err != nil {
		return err
	}
	if p.accept(']') {
		return nil
	}
	if c := p.peek(); c >= '0' && c <= '9' {
		part, err := p.sectionPart()
		if err != nil {
			return err
		}
		it.section.Part = part
		if !p.accept('.') {
			it.label = partLabel(part)
			return p.expect(']')
		}
	}
	spec := strings.ToUpper(p.takeWhile(func(c byte) bool { return c == '.' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') }))
	switch spec {
	case "HEADER", "TEXT":
	case "MIME":
		if len(it.section.Part) == 0 {
			return errSyntax("MIME needs a part number")
		}
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		if err := p.sp(); err != nil {
			return err
		}
		if err := p.expect('('); err != nil {
			return err
		}
		for first := true; !p.accept(')'); first = false {
			if !first {
				if err := p.sp(); err != nil {
					return err
				}
			}
			f, err := p.astring()
			if err != nil {
				return err
			}
			if len(it.section.Fields) >= maxHeaderFields {
				return errSyntax("too many header fields")
			}
			it.section.Fields = append(it.section.Fields, f)
		}
		if len(it.section.Fields) == 0 {
			return errSyntax("empty header field list")
		}
	default:
		return errSyntax("bad section")
	}
	it.section.Specifier = spec
	label := spec
	if len(it.section.Part) > 0 {
		label = partLabel(it.section.Part) + "." + spec
	}
	if len(it.section.Fields) > 0 {
		q := make([]string, len(it.section.Fields))
		for i, f := range it.section.Fields {
			q[i] = quote(f, false)
			if isAtom(f) {
				q[i] = strings.ToUpper(f)
			}
		}
		label += " (" + strings.Join(q, " ") + ")"
	}
	it.label = label
	return p.expect(']')
}

func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAtomChar(s[i]) {
			return false
		}
	}
	return true
}

// partial reads an optional "<" number "." nz-number ">".
func (p *parser) partial(it *fetchItem) error {
	if !p.accept('<') {
		return nil
	}
	off, err := p.number64()
	if err != nil {
		return err
	}
	if err := p.expect('.'); err != nil {
		return err
	}
	n, err := p.number64()
	if err != nil || n == 0 {
		return errSyntax("bad partial length")
	}
	it.partial, it.offset, it.count = true, int64(off), int64(n)
	return p.expect('>')
}
