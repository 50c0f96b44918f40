package imapserver

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSortThreadGolden replays the SORT and THREAD cases of Dovecot's
// imaptest that pochta once answered wrongly: each testdata/sortthread/
// NAME.mbox is appended (with the mbox From_ line's date as internal date)
// to a fresh INBOX, then NAME.txt runs (see runScript).
func TestSortThreadGolden(t *testing.T) {
	scripts, err := filepath.Glob("testdata/sortthread/*.txt")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, script := range scripts {
		name := strings.TrimSuffix(filepath.Base(script), ".txt")
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			c := e.login()
			for _, m := range readMbox(t, "testdata/sortthread/"+name+".mbox") {
				c.ok("APPEND INBOX \"" + m.date.Format("02-Jan-2006 15:04:05 -0700") + "\" {" + strconv.Itoa(len(m.raw)) + "+}\r\n" + m.raw)
			}
			c.ok("SELECT INBOX")
			runScript(t, c, script)
		})
	}
}

type mboxMessage struct {
	date time.Time
	raw  string
}

// readMbox splits an mbox file at its "From " lines, whose trailing date
// ("Fri Feb 22 23:00:00 2008 +0200", zone optional) becomes the internal
// date; lines become CRLF-terminated.
func readMbox(t *testing.T, path string) []mboxMessage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []mboxMessage
	var cur *strings.Builder
	flush := func() {
		if cur != nil {
			out[len(out)-1].raw = strings.TrimSuffix(cur.String(), "\r\n") // the separator line
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "From ") {
			flush()
			f := strings.Fields(l)
			if len(f) < 7 {
				t.Fatalf("%s: bad From_ line %q", path, l)
			}
			date := strings.Join(f[2:], " ")
			d, err := time.Parse("Mon Jan _2 15:04:05 2006 -0700", date)
			if err != nil {
				d, err = time.Parse("Mon Jan _2 15:04:05 2006", date)
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			out = append(out, mboxMessage{date: d})
			cur = &strings.Builder{}
			continue
		}
		if cur == nil {
			t.Fatalf("%s: text before the first From_ line", path)
		}
		cur.WriteString(l + "\r\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return out
}
