package managesieve

import (
	"bufio"
	"strings"
	"testing"
)

// FuzzReadCommand: the command reader never panics, never returns more
// than its limits, and always makes progress.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"LOGOUT\r\n", `AUTHENTICATE "PLAIN" "AGthdGUAcGFzcw=="` + "\r\n",
		"PUTSCRIPT \"a\" {5+}\r\nkeep;\r\n", "PUTSCRIPT \"a\" {5}\r\nkeep;\r\n",
		`NOOP "x\"y\\z"` + "\r\n", "HAVESPACE \"a\" 12345\r\n", "\"x\r\n", "{3+}\r\nabc\r\n",
		"PUTSCRIPT \"x\" 7 {11+}\r\nLOGOUT\r\nX y\r\n", "GETSCRIPT {99999999999}\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := bufio.NewReader(strings.NewReader(in))
		for i := 0; i < 100; i++ {
			c, err := readCommand(r)
			if err != nil {
				if _, bad := err.(*badCommand); !bad {
					return
				}
			}
			if len(c.args) > maxArgs {
				t.Fatalf("%d arguments", len(c.args))
			}
		}
	})
}
