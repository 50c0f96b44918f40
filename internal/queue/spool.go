package queue

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"pochta/internal/envelope"
	"pochta/internal/reply"
)

// Subdirectories and files of the spool (see the package doc).
const (
	msgDir   = "msg"
	envDir   = "env"
	ctlDir   = "ctl"
	badDir   = "corrupt"
	lockName = "lock"
	envExt   = ".json"
	tmpExt   = ".tmp"
	// recordVersion is the format of env/<id>.json.
	recordVersion = 1
	// maxRecordSize bounds the envelope file we are willing to read.
	maxRecordSize = 16 << 20
	// maxHeaderSize bounds the headers Show and a DSN copy of the header.
	maxHeaderSize = 256 << 10
	idLen         = 24
)

// Status is the delivery state of one recipient.
type Status string

// Recipient states.
const (
	StatusPending   Status = "pending"
	StatusDelivered Status = "delivered"
	StatusFailed    Status = "failed"
)

// RecipientState is one recipient of a queued message and how delivery to
// it went. It is persisted (durably) after every attempt.
type RecipientState struct {
	Address string
	Status  Status
	// Attempts counts delivery attempts made so far.
	Attempts    int
	LastAttempt time.Time `json:",omitzero"`
	NextAttempt time.Time `json:",omitzero"`
	// LastError is the last failure, for the operator ("" when none).
	LastError string `json:",omitempty"`
	// Reply is the last refusal from the peer or local delivery; it is
	// quoted as the DSN Diagnostic-Code.
	Reply *reply.Error `json:",omitempty"`
	// DSNStatus overrides the DSN Status derived from Reply ("4.4.7" on
	// expiry).
	DSNStatus string `json:",omitempty"`
	// RemoteMTA names the server that gave Reply, when known.
	RemoteMTA string `json:",omitempty"`
	// Relayed is set when the message was handed to another MTA rather than
	// stored in a local mailbox (DSN Action "relayed", RFC 3464 §2.3.3).
	Relayed bool `json:",omitempty"`
	// Reported is set once the DSN owed for the recipient's final state was
	// queued, or none was owed.
	Reported bool `json:",omitempty"`
}

// Item is one queued message as the management commands show it.
type Item struct {
	ID         string
	From       string
	Recipients []RecipientState
	Created    time.Time
	// NextAttempt is the earliest next attempt of a pending recipient
	// (zero when none is pending).
	NextAttempt time.Time
	Size        int64
}

// record is the content of env/<id>.json.
type record struct {
	Version     int
	ID          string
	Envelope    envelope.Envelope
	Created     time.Time
	Size        int64
	Recipients  []RecipientState
	DelayWarned bool `json:",omitempty"`
}

func (r *record) item() Item {
	it := Item{
		ID:         r.ID,
		From:       r.Envelope.From,
		Recipients: append([]RecipientState(nil), r.Recipients...),
		Created:    r.Created,
		Size:       r.Size,
	}
	for _, rs := range r.Recipients {
		if rs.Status == StatusPending && (it.NextAttempt.IsZero() || rs.NextAttempt.Before(it.NextAttempt)) {
			it.NextAttempt = rs.NextAttempt
		}
	}
	return it
}

// check validates a record read from disk.
func (r *record) check(id string) error {
	switch {
	case r.Version != recordVersion:
		return fmt.Errorf("unknown record version %d", r.Version)
	case r.ID != id:
		return fmt.Errorf("record id %q does not match file name", r.ID)
	case len(r.Recipients) == 0 || len(r.Recipients) != len(r.Envelope.Recipients):
		return errors.New("recipient list does not match the envelope")
	}
	for _, rs := range r.Recipients {
		switch rs.Status {
		case StatusPending, StatusDelivered, StatusFailed:
		default:
			return fmt.Errorf("unknown recipient status %q", rs.Status)
		}
	}
	return nil
}

// newID returns a unique id that sorts by creation time: 16 hex digits of
// Unix nanoseconds followed by 8 random hex digits.
func newID(now time.Time) (string, error) {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	if _, err := rand.Read(b[8:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// validID reports whether id has the shape newID makes; management input
// is checked with it so that an id can never name another file.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func msgPath(dir, id string) string { return filepath.Join(dir, msgDir, id) }
func envPath(dir, id string) string { return filepath.Join(dir, envDir, id+envExt) }

// makeDirs creates the spool directories.
func makeDirs(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, msgDir), filepath.Join(dir, envDir), filepath.Join(dir, ctlDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// syncDir fsyncs a directory so that entries created, renamed or removed in
// it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeNew creates path (which must not exist), writes data and fsyncs the
// file. The directory is not synced. On error the file is removed.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// writeAtomic replaces path with data: write path.tmp, fsync, rename over
// path, fsync the directory. A crash leaves either the old or the new file
// (and maybe a stray .tmp that Open removes), never a half-written one.
func writeAtomic(path string, data []byte) error {
	if err := replaceFile(path, data); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// replaceFile is writeAtomic without the directory's fsync: the rename is
// durable only once the caller has synced the directory.
func replaceFile(path string, data []byte) error {
	tmp := path + tmpExt
	os.Remove(tmp) // a leftover from an interrupted write
	if err := writeNew(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// saveRecord writes r to env/<id>.json atomically and durably.
func saveRecord(dir string, r *record) error {
	data, err := json.MarshalIndent(r, "", "\t")
	if err != nil {
		return err
	}
	return writeAtomic(envPath(dir, r.ID), data)
}

// loadRecord reads and validates env/<id>.json.
func loadRecord(dir, id string) (*record, error) {
	f, err := os.Open(envPath(dir, id))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecordSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxRecordSize {
		return nil, errors.New("envelope file too large")
	}
	return parseRecord(id, data)
}

// removeEntry deletes an entry: the envelope first (that is the commit
// point: without it the content is garbage that Open removes), then the
// content.
func removeEntry(dir, id string) error {
	if err := os.Remove(envPath(dir, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := syncDir(filepath.Join(dir, envDir)); err != nil {
		return err
	}
	if err := os.Remove(msgPath(dir, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Join(dir, msgDir))
}

// entryIDs lists the ids of committed entries (env/<id>.json), sorted.
func entryIDs(dir string) ([]string, error) {
	names, err := readDirNames(filepath.Join(dir, envDir))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range names {
		if id, ok := strings.CutSuffix(n, envExt); ok && validID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// readDirNames lists a directory's entry names, sorted.
func readDirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

// lockFile holds the spool's lock: an exclusive flock on Dir/lock. The
// running queue holds it for its lifetime; management commands take it to
// edit the spool directly when no queue is running.
type lockFile struct{ f *os.File }

var errLocked = errors.New("queue: spool is in use by a running queue")

// tryLock takes the spool lock without waiting.
func tryLock(dir string) (*lockFile, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, err
	}
	return &lockFile{f: f}, nil
}

// lock takes the spool lock, waiting up to wait for a management command
// to finish with it.
func lock(dir string, wait time.Duration) (*lockFile, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := tryLock(dir)
		if !errors.Is(err, errLocked) || time.Now().After(deadline) {
			return l, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *lockFile) unlock() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the descriptor releases the flock
		l.f = nil
	}
}

// headerOf returns the header section of a message (up to and including
// the empty line that ends it), at most maxHeaderSize bytes.
func headerOf(content []byte) []byte {
	limit := min(len(content), maxHeaderSize)
	for i := 0; i < limit; i++ {
		if content[i] != '\n' {
			continue
		}
		rest := content[i+1:]
		if len(rest) > 0 && rest[0] == '\n' {
			return content[:i+2]
		}
		if len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n' {
			return content[:i+3]
		}
	}
	if len(content) > 0 && (content[0] == '\n' || content[0] == '\r') {
		return nil // no header at all
	}
	return content[:limit]
}

// readHeader reads the header section of the content file of id.
func readHeader(dir, id string) ([]byte, error) {
	f, err := os.Open(msgPath(dir, id))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxHeaderSize))
	if err != nil {
		return nil, err
	}
	return headerOf(buf), nil
}
