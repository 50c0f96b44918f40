package managesieve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits of the command reader.
const (
	maxLine     = 8 << 10 // one command line without its literals
	maxLiteral  = 1 << 20 // one literal (scripts are limited further by sieve.MaxScriptSize)
	maxArgs     = 8
	maxLiterals = 4 // literals in one command
)

// command is one client command (RFC 5804 §4: command name, then
// arguments: quoted strings, literals, numbers).
type command struct {
	name string // upper case
	args []arg
}

type arg struct {
	s     string
	isNum bool
	n     int64
	atom  bool // a bare word (only command names are atoms in RFC 5804)
}

// badCommand is a syntax error in an otherwise readable command line: the
// session answers NO and goes on.
type badCommand struct{ msg string }

func (e *badCommand) Error() string { return e.msg }

// errTooLong ends the session: the reader cannot find the next command.
var errTooLong = errors.New("line or literal too long")

// readLine reads one line up to maxLine bytes, without its CRLF (or LF).
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", errTooLong
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF && len(b) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// readCommand reads one command with its literals. {n+} and {n} literals
// are both accepted without a continuation (RFC 5804 §4 lets clients use
// non-synchronizing literals; servers send no continuation for them).
func readCommand(r *bufio.Reader) (command, error) {
	var c command
	line, err := readLine(r)
	if err != nil {
		return c, err
	}
	literals := 0
	i := 0
	skip := func() {
		for i < len(line) && line[i] == ' ' {
			i++
		}
	}
	skip()
	for {
		if i >= len(line) {
			break
		}
		if len(c.args) >= maxArgs {
			return c, drain(r, line, "too many arguments")
		}
		ch := line[i]
		switch {
		case ch == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(line) {
				if line[i] == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					b.WriteByte(line[i+1])
					i += 2
					continue
				}
				if line[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(line[i])
				i++
			}
			if !closed {
				return c, drain(r, line, "unterminated quoted string")
			}
			c.args = append(c.args, arg{s: b.String()})
		case ch == '{':
			end := strings.IndexByte(line[i:], '}')
			if end < 0 || i+end != len(line)-1 {
				return c, drain(r, line, "a literal must end its line")
			}
			spec := strings.TrimSuffix(line[i+1:i+end], "+")
			n, err := strconv.ParseInt(spec, 10, 64)
			if err != nil || n < 0 {
				return c, drain(r, line, "bad literal length")
			}
			if n > maxLiteral {
				return c, errTooLong
			}
			literals++
			if literals > maxLiterals {
				return c, errTooLong
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(r, buf); err != nil {
				return c, err
			}
			c.args = append(c.args, arg{s: string(buf)})
			if line, err = readLine(r); err != nil {
				return c, err
			}
			i = 0
		case ch >= '0' && ch <= '9':
			j := i
			for j < len(line) && line[j] >= '0' && line[j] <= '9' {
				j++
			}
			n, err := strconv.ParseInt(line[i:j], 10, 64)
			if err != nil {
				return c, drain(r, line, "number too large")
			}
			c.args = append(c.args, arg{s: line[i:j], isNum: true, n: n})
			i = j
		default:
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '"' && line[j] != '{' {
				j++
			}
			c.args = append(c.args, arg{s: line[i:j], atom: true})
			i = j
		}
		if i < len(line) && line[i] != ' ' {
			return c, drain(r, line, fmt.Sprintf("unexpected %q", line[i]))
		}
		skip()
	}
	if len(c.args) == 0 || !c.args[0].atom {
		return c, drain(r, line, "expected a command name")
	}
	c.name = strings.ToUpper(c.args[0].s)
	c.args = c.args[1:]
	return c, nil
}

// quote renders s as a quoted string, or as a literal when it cannot be
// quoted (RFC 5804 §4: quoted strings hold no CR, LF or NUL and at most
// 1024 octets).
func quote(s string) string {
	if len(s) > 1024 || strings.ContainsAny(s, "\r\n\x00") {
		return fmt.Sprintf("{%d}\r\n%s", len(s), s)
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// drain skips the literals announced at the end of a bad command's lines,
// so that their contents are not read as commands, and returns the
// syntax error.
func drain(r *bufio.Reader, line, msg string) error {
	for strings.HasSuffix(line, "}") {
		i := strings.LastIndexByte(line, '{')
		if i < 0 {
			break
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(line[i+1:len(line)-1], "+"), 10, 64)
		if err != nil || n < 0 {
			break
		}
		if n > maxLiteral {
			return errTooLong
		}
		if _, err := io.CopyN(io.Discard, r, n); err != nil {
			return err
		}
		if line, err = readLine(r); err != nil {
			return err
		}
	}
	return &badCommand{msg}
}
