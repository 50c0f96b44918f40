package pop3server

import (
	"errors"
	"strings"
)

// maxCommandLine is the longest command line accepted, CRLF included
// (RFC 2449 §4: "the maximum length of a command line is 255 octets,
// including the terminating CRLF").
const maxCommandLine = 255

// maxSASLLine bounds one line of a SASL exchange. RFC 5034 §4 exempts
// SASL continuation lines from the 255-octet command limit; a PLAIN response
// carries three strings of at most 255 octets each (RFC 4616), which
// base64 encodes to well under this.
const maxSASLLine = 4096

// maxArgs is the most arguments any POP3 command takes (TOP msg n).
const maxArgs = 2

// maxArgLen bounds one argument (RFC 1939 §3: "each argument may be up
// to 40 characters long"). PASS and AUTH initial responses are exempt:
// passwords and base64 may be longer, within the line limit.
const maxArgLen = 40

var (
	errEmptyCommand = errors.New("empty command")
	errBadKeyword   = errors.New("invalid command keyword")
	errTooManyArgs  = errors.New("too many arguments")
	errArgTooLong   = errors.New("argument too long")
	errBadByte      = errors.New("invalid character in command")
)

// command is one parsed POP3 command line.
type command struct {
	// name is the keyword in upper case ("RETR").
	name string
	// args are the space-separated arguments (not used for PASS).
	args []string
	// rest is everything after the keyword and one space, unparsed: the
	// argument of PASS, which may contain spaces (RFC 1939 §7 notes
	// that servers may accept them).
	rest string
}

// parseCommand parses one command line without its line ending. Keywords
// are case-insensitive, three or four characters (RFC 1939 §3; RFC 2449
// extension keywords follow the same rule). Arguments are separated by
// spaces; extra spaces are tolerated.
func parseCommand(line string) (command, error) {
	if line == "" {
		return command{}, errEmptyCommand
	}
	for i := 0; i < len(line); i++ {
		// Control characters other than tab never belong in a command;
		// a NUL in particular must not reach the authenticator.
		if c := line[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return command{}, errBadByte
		}
	}
	keyword, rest, _ := strings.Cut(line, " ")
	if len(keyword) < 3 || len(keyword) > 4 {
		return command{}, errBadKeyword
	}
	for i := 0; i < len(keyword); i++ {
		c := keyword[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return command{}, errBadKeyword
		}
	}
	cmd := command{name: strings.ToUpper(keyword), rest: rest}
	if cmd.name == "PASS" {
		return cmd, nil
	}
	fields := strings.Fields(rest)
	if len(fields) > maxArgs {
		return command{}, errTooManyArgs
	}
	for _, f := range fields {
		// AUTH's initial response is base64 and may be long (RFC 5034
		// §4); user names are mail addresses, often longer than 40.
		if len(f) > maxArgLen && cmd.name != "AUTH" && cmd.name != "USER" {
			return command{}, errArgTooLong
		}
	}
	cmd.args = fields
	return cmd, nil
}

// parseNumber parses a message number or line count: decimal digits only,
// no sign, at most 9 digits so the value always fits an int.
func parseNumber(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
