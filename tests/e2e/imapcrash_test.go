package e2e

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", to count blob_data rows
)

// crashFolders are the folders the IMAP crash test works in.
var crashFolders = []string{"INBOX", "Work", "Archive"}

// crashLoc is one message position: a folder and a UID in it.
type crashLoc struct {
	folder string
	uid    uint32
}

// crashMsg is what a client sees of one message: its content's id
// (Message-ID) and its flags, sorted and joined, without \Recent.
type crashMsg struct {
	id    string
	flags string
}

// crashOp is one change a worker asked for. Its destination UID (APPEND,
// COPY, MOVE) is known only once the server acknowledged it.
type crashOp struct {
	kind  string // "append", "copy", "move", "store", "expunge"
	src   crashLoc
	dst   string   // destination folder of append, copy, move
	msg   crashMsg // appended message; new flags for store
	flags []imap.Flag
	clear bool // store: -FLAGS rather than +FLAGS
}

// crashModel is what one worker knows of its own messages (no other worker
// touches them): the state every acknowledged operation left, and the one
// operation in flight when the server died, which may or may not have
// happened — but wholly or not at all.
type crashModel struct {
	name    string
	next    int // counter for new message ids
	msgs    map[crashLoc]crashMsg
	pending *crashOp
	ops     int
	// acked records every position an acknowledged operation gave one
	// of the worker's messages, even if a later one removed it.
	acked map[crashLoc]string
}

// apply returns the state after op, with the new message (if any) at
// newLoc, without changing m.
func (m *crashModel) apply(op *crashOp, newUID uint32) map[crashLoc]crashMsg {
	out := make(map[crashLoc]crashMsg, len(m.msgs)+1)
	for l, v := range m.msgs {
		out[l] = v
	}
	switch op.kind {
	case "append":
		out[crashLoc{op.dst, newUID}] = op.msg
	case "copy":
		out[crashLoc{op.dst, newUID}] = m.msgs[op.src]
	case "move":
		out[crashLoc{op.dst, newUID}] = m.msgs[op.src]
		delete(out, op.src)
	case "store":
		v := out[op.src]
		v.flags = op.msg.flags
		out[op.src] = v
	case "expunge":
		delete(out, op.src)
	}
	return out
}

// crashContent is the full text of the message with id.
func crashContent(id string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: crash@example.test\r\nTo: crash@example.test\r\nSubject: %s\r\nMessage-ID: <%s@crash.test>\r\n\r\n", id, id)
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "%s line %02d: content that must survive a crash intact\r\n", id, i)
	}
	return b.String()
}

func flagString(fl []imap.Flag) string {
	var s []string
	for _, f := range fl {
		if f != `\Recent` {
			s = append(s, string(f))
		}
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// crashFlagChoices are the flags workers set and clear.
var crashFlagChoices = []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagAnswered, "$Crash"}

// isServerReply tells a NO/BAD answer from a dropped connection.
func isServerReply(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie)
}

// work runs one worker's session until the server dies, stop closes or
// its operation budget is spent. Every operation is recorded as pending
// before it is sent and applied to the model when acknowledged.
func (m *crashModel) work(addr, user, pass string, rnd *rand.Rand, stop <-chan struct{}, ops *atomic.Int64) error {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil // the server is already gone
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		if isServerReply(err) {
			return fmt.Errorf("%s: LOGIN: %v", m.name, err)
		}
		return nil
	}
	selected := ""
	for i := 0; i < 2000; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		op := m.choose(rnd)
		if op.kind != "append" && selected != op.src.folder {
			if _, err := c.Select(op.src.folder, nil).Wait(); err != nil {
				if isServerReply(err) {
					return fmt.Errorf("%s: SELECT %s: %v", m.name, op.src.folder, err)
				}
				return nil
			}
			selected = op.src.folder
		}
		m.pending = op
		uid, err := m.send(c, op)
		if err != nil {
			if isServerReply(err) {
				return fmt.Errorf("%s: %s %+v: %v", m.name, op.kind, op.src, err)
			}
			return nil // died with op in flight: it stays pending
		}
		m.msgs = m.apply(op, uid)
		m.pending = nil
		if uid != 0 {
			m.acked[crashLoc{op.dst, uid}] = m.msgs[crashLoc{op.dst, uid}].id
		}
		m.ops++
		ops.Add(1)
	}
	return nil
}

// choose picks the next operation on the worker's own messages.
func (m *crashModel) choose(rnd *rand.Rand) *crashOp {
	locs := make([]crashLoc, 0, len(m.msgs))
	for l := range m.msgs {
		locs = append(locs, l)
	}
	sort.Slice(locs, func(i, j int) bool {
		if locs[i].folder != locs[j].folder {
			return locs[i].folder < locs[j].folder
		}
		return locs[i].uid < locs[j].uid
	})
	other := func(f string) string {
		for {
			if g := crashFolders[rnd.IntN(len(crashFolders))]; g != f {
				return g
			}
		}
	}
	if len(locs) < 4 || rnd.IntN(10) < 3 {
		m.next++
		var fl []imap.Flag
		for _, f := range crashFlagChoices {
			if rnd.IntN(3) == 0 {
				fl = append(fl, f)
			}
		}
		id := fmt.Sprintf("%s-%d", m.name, m.next)
		return &crashOp{kind: "append", dst: crashFolders[rnd.IntN(len(crashFolders))], msg: crashMsg{id, flagString(fl)}, flags: fl}
	}
	src := locs[rnd.IntN(len(locs))]
	switch r := rnd.IntN(10); {
	case r < 2:
		return &crashOp{kind: "copy", src: src, dst: other(src.folder)}
	case r < 4:
		return &crashOp{kind: "move", src: src, dst: other(src.folder)}
	case r < 8:
		// +FLAGS or -FLAGS of one flag; the model knows the result.
		f := crashFlagChoices[rnd.IntN(len(crashFlagChoices))]
		have := strings.Fields(m.msgs[src].flags)
		var fl []imap.Flag
		for _, h := range have {
			if h != string(f) {
				fl = append(fl, imap.Flag(h))
			}
		}
		clear := slices.Contains(have, string(f))
		if !clear {
			fl = append(fl, f)
		}
		return &crashOp{kind: "store", src: src, msg: crashMsg{flags: flagString(fl)}, flags: []imap.Flag{f}, clear: clear}
	case r < 9 && !strings.Contains(m.msgs[src].flags, `\Deleted`):
		fl := append(strings.Fields(m.msgs[src].flags), `\Deleted`)
		var fs []imap.Flag
		for _, f := range fl {
			fs = append(fs, imap.Flag(f))
		}
		return &crashOp{kind: "store", src: src, msg: crashMsg{flags: flagString(fs)}, flags: []imap.Flag{imap.FlagDeleted}}
	default:
		if strings.Contains(m.msgs[src].flags, `\Deleted`) {
			return &crashOp{kind: "expunge", src: src}
		}
		return &crashOp{kind: "copy", src: src, dst: other(src.folder)}
	}
}

// send runs op and returns the destination UID the server acknowledged.
func (m *crashModel) send(c *imapclient.Client, op *crashOp) (uint32, error) {
	one := imap.UIDSetNum(imap.UID(op.src.uid))
	switch op.kind {
	case "append":
		body := crashContent(op.msg.id)
		cmd := c.Append(op.dst, int64(len(body)), &imap.AppendOptions{Flags: op.flags})
		if _, err := cmd.Write([]byte(body)); err != nil {
			return 0, err
		}
		if err := cmd.Close(); err != nil {
			return 0, err
		}
		d, err := cmd.Wait()
		if err != nil {
			return 0, err
		}
		if d.UID == 0 {
			return 0, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "APPEND without APPENDUID"}
		}
		return uint32(d.UID), nil
	case "copy":
		d, err := c.Copy(one, op.dst).Wait()
		if err != nil {
			return 0, err
		}
		return firstUID(d.DestUIDs)
	case "move":
		d, err := c.Move(one, op.dst).Wait()
		if err != nil {
			return 0, err
		}
		dst, _ := d.DestUIDs.(imap.UIDSet)
		return firstUID(dst)
	case "store":
		sf := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: op.flags}
		if op.clear {
			sf.Op = imap.StoreFlagsDel
		}
		return 0, c.Store(one, sf, nil).Close()
	default:
		return 0, c.UIDExpunge(one).Close()
	}
}

func firstUID(s imap.UIDSet) (uint32, error) {
	if len(s) != 1 || s[0].Start == 0 || s[0].Start != s[0].Stop {
		return 0, &imap.Error{Type: imap.StatusResponseTypeNo, Text: fmt.Sprintf("COPYUID destination %v", s)}
	}
	return uint32(s[0].Start), nil
}

// crashSnapshot is the server's state as a client reads it.
type crashSnapshot struct {
	validity map[string]uint32
	msgs     map[crashLoc]crashMsg
}

var crashIDRe = regexp.MustCompile(`(?m)^Message-ID: <([^@>]+)@crash\.test>\r$`)

// readCrashState reads every folder: UIDVALIDITY, and each message's UID,
// flags and full content, which must be exactly what was appended.
func readCrashState(t *testing.T, addr, user, pass string) crashSnapshot {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	snap := crashSnapshot{validity: map[string]uint32{}, msgs: map[crashLoc]crashMsg{}}
	for _, f := range crashFolders {
		sel, err := c.Select(f, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("EXAMINE %s: %v", f, err)
		}
		snap.validity[f] = sel.UIDValidity
		if sel.NumMessages == 0 {
			continue
		}
		msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		}).Collect()
		if err != nil {
			t.Fatalf("FETCH in %s: %v", f, err)
		}
		if len(msgs) != int(sel.NumMessages) {
			t.Errorf("%s: %d EXISTS but %d messages fetched", f, sel.NumMessages, len(msgs))
		}
		for _, m := range msgs {
			var body string
			if len(m.BodySection) == 1 {
				body = string(m.BodySection[0].Bytes)
			}
			id := crashIDRe.FindStringSubmatch(body)
			if id == nil || body != crashContent(id[1]) {
				t.Errorf("%s UID %d: content damaged (%d octets): %.120q", f, m.UID, len(body), body)
				continue
			}
			snap.msgs[crashLoc{f, uint32(m.UID)}] = crashMsg{id[1], flagString(m.Flags)}
		}
	}
	return snap
}

// check compares the worker's messages on the server with its model: they
// must equal the acknowledged state, or that state with the pending
// operation applied whole, its new message (if any) at a UID never used
// before in its folder. On success the model adopts the server's state.
func (m *crashModel) check(actual map[crashLoc]crashMsg, used map[crashLoc]string) error {
	mine := map[crashLoc]crashMsg{}
	for l, v := range actual {
		if strings.HasPrefix(v.id, m.name+"-") {
			mine[l] = v
		}
	}
	if sameCrashState(mine, m.msgs) {
		m.pending = nil
		return nil
	}
	if op := m.pending; op != nil {
		want := m.apply(op, 0)
		var extra []crashLoc
		for l := range mine {
			if _, ok := want[l]; !ok {
				extra = append(extra, l)
			}
		}
		newAt := crashLoc{op.dst, 0}
		if len(extra) == 1 && (op.kind == "append" || op.kind == "copy" || op.kind == "move") && extra[0].folder == op.dst {
			if _, reused := used[extra[0]]; !reused {
				newAt = extra[0]
			}
		}
		if newAt.uid != 0 || (op.kind != "append" && op.kind != "copy" && op.kind != "move") {
			want = m.apply(op, newAt.uid)
			if sameCrashState(mine, want) {
				m.msgs, m.pending = want, nil
				return nil
			}
		}
	}
	return fmt.Errorf("%s: server has\n%s\nacknowledged state was\n%s\npending %+v", m.name, dumpCrashState(mine), dumpCrashState(m.msgs), m.pending)
}

// countFiles counts the regular files under dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// countRows counts a table's rows in the sqlite store's database (read
// only, beside the running server: WAL readers do not block it).
func countRows(t *testing.T, db, table string) int {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func sameCrashState(a, b map[crashLoc]crashMsg) bool {
	if len(a) != len(b) {
		return false
	}
	for l, v := range a {
		if w, ok := b[l]; !ok || w != v {
			return false
		}
	}
	return true
}

func dumpCrashState(s map[crashLoc]crashMsg) string {
	var lines []string
	for l, v := range s {
		lines = append(lines, fmt.Sprintf("  %s/%d %s [%s]", l.folder, l.uid, v.id, v.flags))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestIMAPCrashUnderLoad kills pochta with SIGKILL, 20 times, while four
// IMAP sessions (go-imap v2's client) APPEND, COPY, MOVE, STORE and UID
// EXPUNGE their own messages in three shared folders. After each restart
// the store must open and show exactly what was acknowledged — or that
// plus the one operation each session had in flight, applied wholly —
// with every message's content intact, UIDVALIDITY unchanged and no UID
// ever given to a second message.
func TestIMAPCrashUnderLoad(t *testing.T) {
	const user, pass, workers, rounds = "crash@example.test", "pw-crash-1", 4, 20
	in := newInstance(t, instanceOptions{})
	in.addUser(user, pass)
	in.start()
	setup, err := imapclient.DialInsecure(in.addr["imap"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := setup.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := setup.Create("Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	setup.Close()
	first := readCrashState(t, in.addr["imap"], user, pass)

	models := make([]*crashModel, workers)
	for i := range models {
		models[i] = &crashModel{name: fmt.Sprintf("w%d", i), msgs: map[crashLoc]crashMsg{}, acked: map[crashLoc]string{}}
	}
	// used remembers every (folder, UID) a message ever had, with its id.
	used := map[crashLoc]string{}
	start := time.Now()
	for round := 0; round < rounds; round++ {
		// Messages added from now on get UIDs above every earlier one of
		// their folder (RFC 9051 §2.3.1.1: strictly ascending).
		before := map[crashLoc]bool{}
		maxUID := map[string]uint32{}
		for l := range used {
			before[l] = true
			maxUID[l.folder] = max(maxUID[l.folder], l.uid)
		}
		var (
			wg   sync.WaitGroup
			stop = make(chan struct{})
			ops  atomic.Int64
			mu   sync.Mutex
			errs []error
		)
		for i, m := range models {
			wg.Add(1)
			go func(m *crashModel, seed uint64) {
				defer wg.Done()
				if err := m.work(in.addr["imap"], user, pass, rand.New(rand.NewPCG(seed, uint64(round))), stop, &ops); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}(m, uint64(i))
		}
		// Kill at a random moment once the load is running.
		for deadline := time.Now().Add(10 * time.Second); ops.Load() < 8 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(500)) * time.Millisecond)
		in.kill()
		close(stop)
		wg.Wait()
		for _, err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		for _, m := range models {
			for l, id := range m.acked {
				used[l] = id
			}
		}
		in.start()
		snap := readCrashState(t, in.addr["imap"], user, pass)
		for f, v := range snap.validity {
			if v != first.validity[f] {
				t.Fatalf("round %d: UIDVALIDITY of %s changed from %d to %d", round, f, first.validity[f], v)
			}
		}
		for l, v := range snap.msgs {
			if id, ok := used[l]; ok && id != v.id {
				t.Fatalf("round %d: UID %d of %s was %s before the crash and is %s now", round, l.uid, l.folder, id, v.id)
			}
			if !before[l] && l.uid <= maxUID[l.folder] {
				t.Fatalf("round %d: new message %s got UID %d in %s, not above the earlier %d", round, v.id, l.uid, l.folder, maxUID[l.folder])
			}
		}
		for _, m := range models {
			if err := m.check(snap.msgs, used); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		for l, v := range snap.msgs {
			used[l] = v.id
			if !strings.HasPrefix(v.id, "w") {
				t.Fatalf("round %d: unknown message %s at %v", round, v.id, l)
			}
		}
		// Each id was appended once and copies share its content: after
		// the restart removed orphans, there is one content (a file, or a
		// row of blob_data for a small one) per id still present, none
		// lost and none left behind.
		ids := map[string]bool{}
		for _, v := range snap.msgs {
			ids[v.id] = true
		}
		store := filepath.Join(in.dir, "data", "store")
		if n := countFiles(t, filepath.Join(store, "blobs")) + countRows(t, filepath.Join(store, "pochta.db"), "blob_data"); n != len(ids) {
			t.Fatalf("round %d: %d message contents for %d distinct messages", round, n, len(ids))
		}
		t.Logf("round %d: %d operations acknowledged, %d messages", round, ops.Load(), len(snap.msgs))
	}
	total := 0
	for _, m := range models {
		total += m.ops
	}
	t.Logf("%d rounds, %d acknowledged operations in %v", rounds, total, time.Since(start).Round(time.Millisecond))
	in.stop()
}
