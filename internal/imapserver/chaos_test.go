package imapserver

import (
	"math/rand"
	"strings"
	"testing"
)

// Syntactically plausible but odd commands, mutated at random, must each
// get a tagged answer; a handler panic would crash the test binary.
func TestCommandChaos(t *testing.T) {
	e := newEnv(t, envOptions{maxErrors: 1 << 30})
	for i := 1; i <= 4; i++ {
		e.deliver("", testMessage(i, "chaos"))
	}
	e.deliver("", multipart)
	c := e.login()
	c.ok("SELECT INBOX")
	base := []string{
		"FETCH 1:* (BODY[1.2.3.HEADER] BINARY[9] BINARY.SIZE[2] BODY[2.MIME]<5.1> BODY[TEXT]<99999.1>)",
		"FETCH 5 (BODY[1] BODY[2] BODY[3] BINARY[1] BINARY[2] BODY[1.1] BODY[2.HEADER])",
		"UID FETCH 4294967295 (FLAGS)", "FETCH 4294967295:1 UID", "UID FETCH *:* (UID)",
		"SEARCH OR OR OR 1 2 3 4", "SEARCH NOT NOT NOT ALL", "SEARCH UID $", "SEARCH 1,2,3:*,*:1",
		"SEARCH HEADER \"\" \"\"", "SEARCH SUBJECT \"\"", "SEARCH LARGER 9999999999", "SEARCH SENTON 31-Feb-2026",
		"STORE *:1 FLAGS ()", "STORE 1 +FLAGS.SILENT ($a $b $c)", "UID STORE 0 FLAGS ()",
		"COPY * INBOX", "MOVE 1 INBOX", "UID MOVE 999 Trash", "UID EXPUNGE 1:*",
		"SORT (REVERSE REVERSE) UTF-8 ALL", "SORT () UTF-8 ALL", "THREAD REFERENCES UTF-8 NOT ALL",
		"LIST \"\" \"%%%%*%%\"", "LIST (RECURSIVEMATCH) \"\" *", "LIST \"INBOX/\" \"../*\"",
		"STATUS INBOX ()", "STATUS INBOX (MESSAGES MESSAGES)", "APPEND INBOX () \"31-Feb-2026 99:00:00 +9999\" {1+}\r\nx",
		"APPEND INBOX (\\Recent) {1+}\r\nx", "APPEND INBOX {0+}\r\n", "CREATE \"a/\"", "CREATE \"/\"", "RENAME INBOX INBOX",
		"RENAME INBOX Old/Inbox", "DELETE Old", "SELECT INBOX (CONDSTORE QRESYNC)", "SELECT INBOX",
		"ENABLE QRESYNC", "SELECT INBOX (QRESYNC (1 1 1:* (1:2 1:2)))", "UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)",
		"GETQUOTA x", "GETQUOTAROOT \"\"", "ID NIL", "ID ()", "NAMESPACE x", "EXAMINE INBOX", "UNSELECT", "SELECT INBOX",
		"FETCH $ FAST", "SEARCH RETURN (SAVE MIN) ALL", "FETCH $ ALL", "CHECK", "NOOP", "EXPUNGE",
	}
	rng := rand.New(rand.NewSource(1))
	mutate := func(s string) string {
		b := []byte(s)
		switch rng.Intn(4) {
		case 0:
			return s
		case 1: // drop a byte (keep literal framing intact by avoiding the tail)
			if i := strings.IndexByte(s, '{'); i < 0 && len(b) > 1 {
				j := rng.Intn(len(b))
				return string(append(b[:j:j], b[j+1:]...))
			}
		case 2: // duplicate a token
			f := strings.Fields(s)
			if len(f) > 1 && !strings.Contains(s, "{") {
				j := rng.Intn(len(f))
				f = append(f[:j+1], f[j:]...)
				return strings.Join(f, " ")
			}
		case 3: // swap a character for a special one
			if !strings.Contains(s, "{") && len(b) > 1 {
				b[rng.Intn(len(b))] = "()*%\"\\[]<>$:,"[rng.Intn(13)]
				return string(b)
			}
		}
		return s
	}
	for i := 0; i < 600; i++ {
		cmd := mutate(base[rng.Intn(len(base))])
		_, st := c.run(cmd)
		if !strings.HasPrefix(st, "OK") && !strings.HasPrefix(st, "NO") && !strings.HasPrefix(st, "BAD") {
			t.Fatalf("%q: %q", cmd, st)
		}
	}
	c.ok("NOOP")
}
