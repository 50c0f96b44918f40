package imapserver

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// raceMessage is the ~5.8 KB message every session of
// TestFetchWhileOthersExpunge appends.
func raceMessage() string {
	var sb strings.Builder
	sb.WriteString("From: Race <race@example.com>\r\nTo: alice@example.org\r\nSubject: expunge race\r\n" +
		"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <race@example.com>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	for i := 0; sb.Len() < 5800; i++ {
		fmt.Fprintf(&sb, "line %03d of a message whose body must always come back whole.\r\n", i)
	}
	return sb.String()
}

// wire is a minimal IMAP client for tests that run in goroutines: it
// returns errors instead of failing the test.
type wire struct {
	c      net.Conn
	r      *bufio.Reader
	next   int
	exists int // last EXISTS count, kept up to date with EXPUNGE
}

func dialWire(addr string) (*wire, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	w := &wire{c: c, r: bufio.NewReader(c)}
	if _, err := w.line(); err != nil {
		c.Close()
		return nil, err
	}
	return w, nil
}

// line reads one response line with any literals inlined.
func (w *wire) line() (string, error) {
	w.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	return readResponse(w.r)
}

// run sends one command (with an optional LITERAL+ argument appended) and
// returns the untagged lines and the tagged status.
func (w *wire) run(cmd string, literal string) ([]string, string, error) {
	w.next++
	tag := "W" + strconv.Itoa(w.next)
	line := tag + " " + cmd
	if literal != "" {
		line += " {" + strconv.Itoa(len(literal)) + "+}\r\n" + literal
	}
	w.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if _, err := w.c.Write([]byte(line + "\r\n")); err != nil {
		return nil, "", err
	}
	var lines []string
	for {
		l, err := w.line()
		if err != nil {
			return lines, "", err
		}
		if strings.HasPrefix(l, tag+" ") {
			return lines, strings.TrimPrefix(l, tag+" "), nil
		}
		var n int
		if _, err := fmt.Sscanf(l, "* %d EXISTS", &n); err == nil {
			w.exists = n
		} else if strings.HasSuffix(l, " EXPUNGE") {
			w.exists--
		}
		lines = append(lines, l)
	}
}

// ok runs a command that must succeed.
func (w *wire) ok(cmd, literal string) ([]string, error) {
	lines, st, err := w.run(cmd, literal)
	if err == nil && !strings.HasPrefix(st, "OK") {
		err = fmt.Errorf("%s: %s", cmd, st)
	}
	return lines, err
}

// flagsOnly matches the unsolicited FETCH that reports a flag change.
var flagsOnly = regexp.MustCompile(`^\* \d+ FETCH \(UID \d+ FLAGS \([^()]*\)\)$`)

// checkFetchedWhole checks one "* n FETCH (UID u BODYSTRUCTURE ...
// RFC822.SIZE n BODY[] {n}...)" response against the appended message.
func checkFetchedWhole(l, want string) error {
	i := strings.Index(l, "RFC822.SIZE ")
	if i < 0 {
		return fmt.Errorf("no RFC822.SIZE in %.200q", l)
	}
	size, err := strconv.Atoi(strings.Fields(l[i+len("RFC822.SIZE "):])[0])
	if err != nil {
		return fmt.Errorf("RFC822.SIZE in %.200q: %v", l, err)
	}
	i = strings.Index(l, "BODY[] {")
	if i < 0 {
		return fmt.Errorf("no BODY[] literal in %.200q", l)
	}
	rest := l[i+len("BODY[] {"):]
	j := strings.Index(rest, "}\r\n")
	n, err := strconv.Atoi(rest[:max(j, 0)])
	if j < 0 || err != nil {
		return fmt.Errorf("BODY[] literal in %.200q", l)
	}
	body := rest[j+3:]
	if n > len(body) {
		return fmt.Errorf("short literal in %.200q", l)
	}
	body = body[:n]
	if n != size || body != want {
		return fmt.Errorf("BODY[] has %d octets, RFC822.SIZE %d, want %d octets equal to the appended message: %.300q", n, size, len(want), l)
	}
	if !strings.Contains(l, `BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" `+strconv.Itoa(len(want)-strings.Index(want, "\r\n\r\n")-4)+" ") {
		return fmt.Errorf("BODYSTRUCTURE not that of the appended message: %.300q", l)
	}
	return nil
}

// Six sessions append, select, expunge a random message and fetch every
// message's content at once, so sessions fetch messages that another
// session has just expunged. A FETCH must return each message whole or,
// for a message expunged meanwhile, nothing (RFC 2180 §4.1.2, tagged NO
// [EXPUNGEISSUED], RFC 5530 §3) — never an empty body or structure.
func TestFetchWhileOthersExpunge(t *testing.T) {
	sessions, rounds := 6, 50
	if testing.Short() {
		rounds = 15
	}
	e := newEnv(t, envOptions{})
	msg := raceMessage()
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	var mu sync.Mutex
	fetched, issued := 0, 0
	for s := 0; s < sessions; s++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			errs <- func() error {
				rnd := rand.New(rand.NewPCG(seed, 7))
				w, err := dialWire(e.addr)
				if err != nil {
					return err
				}
				defer w.c.Close()
				if _, err := w.ok(`LOGIN alice@example.org "`+testPassword+`"`, ""); err != nil {
					return err
				}
				for r := 0; r < rounds; r++ {
					if _, err := w.ok("APPEND INBOX", msg); err != nil {
						return err
					}
					if _, err := w.ok("SELECT INBOX", ""); err != nil {
						return err
					}
					if w.exists > 0 {
						n := 1 + rnd.IntN(w.exists)
						if _, err := w.ok(fmt.Sprintf(`STORE %d +FLAGS.SILENT (\Deleted)`, n), ""); err != nil {
							return err
						}
						if _, err := w.ok("EXPUNGE", ""); err != nil {
							return err
						}
					}
					lines, st, err := w.run("FETCH 1:* (UID BODYSTRUCTURE RFC822.SIZE BODY.PEEK[])", "")
					if err != nil {
						return err
					}
					if !strings.HasPrefix(st, "OK") && !strings.HasPrefix(st, "NO [EXPUNGEISSUED]") {
						return fmt.Errorf("FETCH: %s", st)
					}
					n := 0
					for _, l := range lines {
						if !strings.Contains(l, " FETCH (") || flagsOnly.MatchString(l) {
							continue // another session's flag change
						}
						if err := checkFetchedWhole(l, msg); err != nil {
							return err
						}
						n++
					}
					mu.Lock()
					fetched += n
					if strings.HasPrefix(st, "NO") {
						issued++
					}
					mu.Unlock()
				}
				_, err = w.ok("LOGOUT", "")
				return err
			}()
		}(uint64(s))
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	if err := errors.Join(all...); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages fetched whole; %d FETCH commands answered NO [EXPUNGEISSUED]", fetched, issued)
}

// A message another session expunged, while this session has not yet been
// told, is left out of FETCH with NO [EXPUNGEISSUED] (RFC 2180 §4.1.2,
// RFC 5530 §3) — with or without content items, by sequence number or
// UID — and the EXPUNGE reaches the client at the next NOOP.
func TestFetchExpungedByOther(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 3; i++ {
		e.deliver("", testMessage(i, "gone"+itoa(i)))
	}
	a, b := e.login(), e.login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	b.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	b.ok("EXPUNGE")
	for _, cmd := range []string{"FETCH 1:3 (UID BODY.PEEK[])", "FETCH 2 (UID BODYSTRUCTURE)", "FETCH 1:* (UID FLAGS)", "UID FETCH 2 (RFC822.SIZE)", "FETCH 2 (BODY[TEXT])"} {
		lines := a.expect(cmd, "NO [EXPUNGEISSUED]")
		mustNotHave(t, lines, "* 2 FETCH", "EXPUNGE", "{0}")
	}
	lines := a.ok("FETCH 1,3 (UID BODY.PEEK[])")
	mustHave(t, lines, "* 1 FETCH (UID 1 BODY[] {", "* 3 FETCH (UID 3 BODY[] {", "Body of message 3.")
	// BODY[TEXT] on a message that is gone must not have set \Seen on
	// anything else or failed the session.
	lines = a.ok("NOOP")
	mustHave(t, lines, "* 2 EXPUNGE")
	lines = a.ok("FETCH 1:* (UID FLAGS)")
	mustHave(t, lines, "* 1 FETCH (UID 1 FLAGS (", "* 2 FETCH (UID 3 FLAGS (")
	mustNotHave(t, lines, `\Seen`)
	// Overlapping and saved sets of messages that all exist are plain OK.
	a.ok("FETCH 2,1:2,1 (UID BODY.PEEK[HEADER])")
	a.ok("UID FETCH 1:3,3 (FLAGS)")
	a.ok("SEARCH RETURN (SAVE) ALL")
	a.ok("FETCH $ (UID BODY.PEEK[])")
	a.ok("UID FETCH $ (FLAGS)")
}
