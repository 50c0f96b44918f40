package message

import "bytes"

// Hops counts the Received fields in the top-level header section of a
// message (RFC 5321 §4.4: every SMTP server that takes a message adds
// one), the hop count that RFC 5321 §6.3 uses to detect mail loops. It
// reads no further than the empty line that ends the header section, so a
// bounce that quotes a looping message is not itself counted as looping.
// Bare LF line endings are accepted as well as CRLF.
func Hops(content []byte) int {
	n := 0
	for len(content) > 0 {
		line := content
		next := len(content)
		if i := bytes.IndexByte(content, '\n'); i >= 0 {
			line, next = content[:i], i+1
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 { // end of the header section
			break
		}
		if isReceived(line) {
			n++
		}
		content = content[next:]
	}
	return n
}

// isReceived reports whether a header line starts a Received field (name,
// optional white space, colon; RFC 5322 §3.6.7, §4.5.2 obsolete syntax).
func isReceived(line []byte) bool {
	const name = "received"
	if len(line) <= len(name) || !bytes.EqualFold(line[:len(name)], []byte(name)) {
		return false
	}
	rest := bytes.TrimLeft(line[len(name):], " \t")
	return len(rest) > 0 && rest[0] == ':'
}

// TrimTopFields removes the fields called name (case-insensitive) that
// stand at the very top of content, folded lines included: a Return-Path
// a message arrived with, or the DKIM-Signature fields we put on a message
// we are about to change.
func TrimTopFields(content []byte, name string) []byte {
	for len(content) > len(name) && bytes.EqualFold(content[:len(name)], []byte(name)) && content[len(name)] == ':' {
		for {
			i := bytes.IndexByte(content, '\n')
			if i < 0 {
				return nil
			}
			content = content[i+1:]
			if len(content) == 0 || (content[0] != ' ' && content[0] != '\t') { // not folded
				break
			}
		}
	}
	return content
}
