package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Request files in ctl/ (see the package doc).
const (
	flushRequest = "flush"
	retrySuffix  = ".retry"
	dropSuffix   = ".drop"
	// requestWait bounds how long a management command waits for the
	// running queue to apply its request.
	requestWait = 15 * time.Second
)

// ErrPending is returned by Retry, Drop and Flush when a queue is running
// but has not applied the request within requestWait; the request stays in
// ctl/ and is applied later.
var ErrPending = errors.New("queue: request recorded, but the running queue has not applied it yet")

// List returns every queued message, oldest first. It reads the spool
// directly and may run while a queue is running.
func List(dir string) ([]Item, error) {
	ids, err := entryIDs(dir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	items := make([]Item, 0, len(ids))
	for _, id := range ids {
		rec, err := loadRecord(dir, id)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("queue: entry %s: %w", id, err)
		}
		items = append(items, rec.item())
	}
	return items, nil
}

// Show returns one queued message and its header section.
func Show(dir, id string) (Item, []byte, error) {
	if !validID(id) {
		return Item{}, nil, ErrNotFound
	}
	rec, err := loadRecord(dir, id)
	if errors.Is(err, os.ErrNotExist) {
		return Item{}, nil, ErrNotFound
	}
	if err != nil {
		return Item{}, nil, fmt.Errorf("queue: entry %s: %w", id, err)
	}
	hdr, err := readHeader(dir, id)
	if err != nil {
		return Item{}, nil, fmt.Errorf("queue: entry %s: %w", id, err)
	}
	return rec.item(), hdr, nil
}

// Retry makes the next attempt for every pending recipient of id happen now.
func Retry(dir, id string) error { return entryRequest(dir, id, retrySuffix) }

// Drop removes id from the queue without delivering it further or sending
// any DSN.
func Drop(dir, id string) error { return entryRequest(dir, id, dropSuffix) }

// Flush makes the next attempt of every queued message happen now.
func Flush(dir string) error { return request(dir, flushRequest) }

func entryRequest(dir, id, suffix string) error {
	if !validID(id) {
		return ErrNotFound
	}
	if _, err := os.Stat(envPath(dir, id)); errors.Is(err, os.ErrNotExist) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return request(dir, id+suffix)
}

// request records a management request in ctl/ and sees it applied:
// directly when no queue runs, else by waiting for the running queue.
func request(dir, name string) error {
	ctl := filepath.Join(dir, ctlDir)
	if _, err := os.Stat(ctl); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	path := filepath.Join(ctl, name)
	if err := writeAtomic(path, nil); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	l, err := tryLock(dir)
	if err == nil {
		defer l.unlock()
		return applyOffline(dir, time.Now(), slog.New(slog.DiscardHandler))
	}
	if !errors.Is(err, errLocked) {
		return fmt.Errorf("queue: %w", err)
	}
	for deadline := time.Now().Add(requestWait); time.Now().Before(deadline); {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return ErrPending
}

// applyOffline applies the requests in ctl/ to the files directly. The
// caller holds the spool lock, so no queue is running.
func applyOffline(dir string, now time.Time, log *slog.Logger) error {
	ctl := filepath.Join(dir, ctlDir)
	names, err := readDirNames(ctl)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	retryNow := func(id string) error {
		rec, err := loadRecord(dir, id)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !retryRecord(rec, now) {
			return nil
		}
		return saveRecord(dir, rec)
	}
	for _, n := range names {
		if strings.HasSuffix(n, tmpExt) {
			continue
		}
		var err error
		switch id, kind := splitRequest(n); kind {
		case flushRequest:
			var ids []string
			ids, err = entryIDs(dir)
			for _, id := range ids {
				if err == nil {
					err = retryNow(id)
				}
			}
		case retrySuffix:
			err = retryNow(id)
		case dropSuffix:
			err = removeEntry(dir, id)
			if err == nil {
				log.Info("removed from queue", "id", id, "why", "dropped by request")
			}
		default:
			log.Warn("ignoring unknown queue request", "file", n)
		}
		if err != nil {
			return fmt.Errorf("request %s: %w", n, err)
		}
		if err := os.Remove(filepath.Join(ctl, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return syncDir(ctl)
}

// splitRequest parses a request file name into an entry id and its kind
// (flushRequest, retrySuffix, dropSuffix or "" if unknown).
func splitRequest(name string) (id, kind string) {
	if name == flushRequest {
		return "", flushRequest
	}
	for _, suf := range []string{retrySuffix, dropSuffix} {
		if id, ok := strings.CutSuffix(name, suf); ok && validID(id) {
			return id, suf
		}
	}
	return "", ""
}

// retryRecord schedules every pending recipient of rec for now; it reports
// whether anything changed.
func retryRecord(rec *record, now time.Time) bool {
	changed := false
	for i := range rec.Recipients {
		rs := &rec.Recipients[i]
		if rs.Status == StatusPending && rs.NextAttempt.After(now) {
			rs.NextAttempt = now
			changed = true
		}
	}
	return changed
}

// applyRequests applies the requests in ctl/ to the running queue.
func (q *Queue) applyRequests() {
	ctl := filepath.Join(q.dir, ctlDir)
	names, err := readDirNames(ctl)
	if err != nil {
		q.log.Error("cannot read queue requests", "err", err)
		return
	}
	now := q.now()
	var save []*entry
	for _, n := range names {
		if strings.HasSuffix(n, tmpExt) {
			continue
		}
		id, kind := splitRequest(n)
		keep := false // drop requests are removed with the entry
		q.mu.Lock()
		switch kind {
		case flushRequest:
			for _, e := range q.entries {
				if retryRecord(e.rec, now) {
					save = append(save, e)
					q.schedule(e, now)
				}
			}
			q.log.Info("queue flush requested")
		case retrySuffix:
			if e := q.entries[id]; e != nil && retryRecord(e.rec, now) {
				save = append(save, e)
				q.schedule(e, now)
				q.log.Info("retry requested", "id", id)
			}
		case dropSuffix:
			if e := q.entries[id]; e != nil {
				if !e.dropped {
					q.log.Info("drop requested", "id", id)
				}
				e.dropped = true
				q.schedule(e, now)
				keep = true
			}
		default:
			q.log.Warn("ignoring unknown queue request", "file", n)
		}
		q.mu.Unlock()
		if !keep {
			if err := os.Remove(filepath.Join(ctl, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				q.log.Error("cannot remove queue request", "file", n, "err", err)
			}
		}
	}
	// A flush or retry only moves retry times earlier: it is not written
	// (10,000 entries would be 10,000 fsyncs before the first delivery);
	// the attempts write their results, a crash before forgets the
	// request and nothing else, and Shutdown writes what is left.
	q.mu.Lock()
	for _, e := range save {
		e.unsaved = true
	}
	q.mu.Unlock()
	q.kick()
}
