package queue

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// spool is where queued messages live durably: the files under
// Options.Dir (fileSpool, one node) or PostgreSQL (pgSpool, any number of
// nodes). The Queue keeps the entries it works on in memory and writes
// every change through the spool before it acts on it.
type spool interface {
	// load recovers after a crash and returns the entries the queue holds
	// from the start (all of them for the file spool; none for a shared
	// spool, whose entries are claimed when due).
	load(ctx context.Context) ([]*record, error)
	// add stores a new entry durably (held by this queue).
	add(ctx context.Context, rec *record, content []byte) error
	// content returns an entry's message.
	content(ctx context.Context, id string) ([]byte, error)
	// header returns the header section of an entry's message.
	header(ctx context.Context, id string) ([]byte, error)
	// save replaces an entry's state; due is when it next needs work.
	save(ctx context.Context, rec *record, due time.Time) error
	// remove deletes an entry.
	remove(ctx context.Context, id string) error
	// close releases what the spool holds (the lock, connections).
	close()
}

// fileSpool is the spool in a directory (see the package doc): one
// content file and one envelope/state file per entry, flock(2)ed by the
// running queue.
type fileSpool struct {
	dir  string
	log  *slog.Logger
	now  func() time.Time
	lock *lockFile
	// envSync and msgSync share the fsyncs of env/ and msg/ among
	// concurrent writers and removers.
	envSync, msgSync *dirSync
}

// openFileSpool creates the directories and takes the spool lock.
func openFileSpool(dir string, wait time.Duration, log *slog.Logger, now func() time.Time) (*fileSpool, error) {
	if err := makeDirs(dir); err != nil {
		return nil, err
	}
	l, err := lock(dir, wait)
	if err != nil {
		return nil, err
	}
	return &fileSpool{dir: dir, log: log, now: now, lock: l,
		envSync: newDirSync(filepath.Join(dir, envDir)), msgSync: newDirSync(filepath.Join(dir, msgDir))}, nil
}

func (s *fileSpool) load(context.Context) ([]*record, error) { return s.recover() }

func (s *fileSpool) content(_ context.Context, id string) ([]byte, error) {
	return os.ReadFile(msgPath(s.dir, id))
}

func (s *fileSpool) header(_ context.Context, id string) ([]byte, error) {
	return readHeader(s.dir, id)
}

// save replaces env/<id>.json atomically (write a temporary file, fsync,
// rename); the fsync of env/ that makes the rename durable is shared with
// concurrent writers and removers.
func (s *fileSpool) save(_ context.Context, rec *record, _ time.Time) error {
	data, err := json.MarshalIndent(rec, "", "\t")
	if err != nil {
		return err
	}
	if err := replaceFile(envPath(s.dir, rec.ID), data); err != nil {
		return err
	}
	return s.envSync.sync()
}

// remove deletes the entry's files and a drop request for it. The
// envelope goes first and its removal is made durable (one fsync of env/
// shared with concurrent removers): that is the commit point. The content
// file is removed without an fsync of msg/: if a crash undoes that, Open
// finds content without an envelope and removes it.
func (s *fileSpool) remove(_ context.Context, id string) error {
	err := os.Remove(envPath(s.dir, id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := s.envSync.sync(); err != nil {
		return err
	}
	if err := os.Remove(msgPath(s.dir, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	os.Remove(filepath.Join(s.dir, ctlDir, id+dropSuffix))
	return nil
}

func (s *fileSpool) close() { s.lock.unlock() }

// recover cleans up after a crash and loads the committed entries.
func (s *fileSpool) recover() ([]*record, error) {
	var recs []*record
	for _, sub := range []string{envDir, msgDir, ctlDir} {
		names, err := readDirNames(filepath.Join(s.dir, sub))
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if strings.HasSuffix(n, tmpExt) {
				s.log.Warn("removing interrupted write", "file", filepath.Join(sub, n))
				if err := os.Remove(filepath.Join(s.dir, sub, n)); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := applyOffline(s.dir, s.now(), s.log); err != nil {
		return nil, err
	}
	ids, err := entryIDs(s.dir)
	if err != nil {
		return nil, err
	}
	committed := map[string]bool{}
	for _, id := range ids {
		rec, err := loadRecord(s.dir, id)
		if err == nil {
			_, err = os.Stat(msgPath(s.dir, id))
			if errors.Is(err, os.ErrNotExist) && !attempted(rec) {
				s.log.Warn("removing envelope without content (interrupted enqueue)", "id", id)
				if err := os.Remove(envPath(s.dir, id)); err != nil {
					return nil, err
				}
				continue
			}
		}
		if err != nil {
			s.log.Error("unreadable queue entry set aside", "id", id, "err", err)
			if err := s.setAside(id); err != nil {
				return nil, err
			}
			continue
		}
		committed[id] = true
		recs = append(recs, rec)
	}
	names, err := readDirNames(filepath.Join(s.dir, msgDir))
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if !committed[n] {
			s.log.Warn("removing content without envelope (interrupted enqueue)", "id", n)
			if err := os.Remove(filepath.Join(s.dir, msgDir, n)); err != nil {
				return nil, err
			}
		}
	}
	for _, sub := range []string{envDir, msgDir, ctlDir} {
		if err := syncDir(filepath.Join(s.dir, sub)); err != nil {
			return nil, err
		}
	}
	if len(recs) > 0 {
		s.log.Info("queue loaded", "entries", len(recs))
	}
	return recs, nil
}

// attempted reports whether any delivery of rec was tried.
func attempted(rec *record) bool {
	for _, rs := range rec.Recipients {
		if rs.Attempts > 0 {
			return true
		}
	}
	return false
}

// setAside moves a broken entry's files to corrupt/.
func (s *fileSpool) setAside(id string) error {
	bad := filepath.Join(s.dir, badDir)
	if err := os.MkdirAll(bad, 0o700); err != nil {
		return err
	}
	for _, p := range []string{envPath(s.dir, id), msgPath(s.dir, id)} {
		if err := os.Rename(p, filepath.Join(bad, filepath.Base(p))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return syncDir(bad)
}

// commit writes a new entry durably. The content and the envelope's
// temporary file are written and fsynced in parallel, then the envelope is
// renamed into place (the commit point) and both directories are fsynced
// in parallel (each fsync shared with concurrent callers): two fsync
// latencies instead of four. Until commit returns
// nothing has been promised, so a crash in between may leave content
// without an envelope (removed by Open) or, on a file system that reorders
// directory updates, an envelope without content (set aside by Open).
func (s *fileSpool) add(_ context.Context, rec *record, content []byte) error {
	data, err := json.MarshalIndent(rec, "", "\t")
	if err != nil {
		return err
	}
	mp, ep := msgPath(s.dir, rec.ID), envPath(s.dir, rec.ID)
	tmp := ep + tmpExt
	cerr := make(chan error, 1)
	go func() { cerr <- writeNew(mp, content) }()
	terr := writeNew(tmp, data)
	merr := <-cerr
	// writeNew removes what it created when it fails; undo the rest.
	if merr != nil || terr != nil {
		if merr == nil {
			os.Remove(mp)
		}
		if terr == nil {
			os.Remove(tmp)
		}
		return errors.Join(merr, terr)
	}
	if err := os.Rename(tmp, ep); err != nil {
		os.Remove(tmp)
		os.Remove(mp)
		return err
	}
	go func() { cerr <- s.msgSync.sync() }()
	if err := errors.Join(s.envSync.sync(), <-cerr); err != nil {
		os.Remove(ep)
		os.Remove(mp)
		return err
	}
	return nil
}
