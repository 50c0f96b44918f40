package sqlite

import (
	"fmt"
	"syscall"

	"pochta/internal/store"
)

// New mail is refused (store.ErrNoSpace, which delivery answers with 452
// 4.3.1) while the file system holding the store has less than a margin
// free: what is left is kept for the changes that free space — deleting and
// expunging mail, setting \Seen — since with SQLite in WAL mode even a
// delete needs room (its pages go to the log, and a checkpoint may grow the
// database file). Postfix's queue_minfree plays the same part. The margin
// is 5% of the file system, at least 1 MiB and at most 256 MiB.
const (
	minFreeFloor = 1 << 20
	minFreeCeil  = 256 << 20
)

// minFree returns the margin for the file system of dir and the bytes
// available now to unprivileged writers.
func minFree(dir string) (margin, avail int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	total := int64(st.Blocks) * int64(st.Bsize)
	margin = min(max(total/20, minFreeFloor), minFreeCeil)
	return margin, int64(st.Bavail) * int64(st.Bsize), nil
}

// checkFree refuses new content when, with extra more bytes written, less
// than the margin would remain free.
func (s *Store) checkFree(extra int64) error {
	margin, avail, err := minFree(s.dir)
	if err != nil {
		return nil // no statfs: the writes themselves still fail with ENOSPC
	}
	if avail-extra < margin {
		return fmt.Errorf("%w: %d bytes free, %d kept for deletions", store.ErrNoSpace, avail-extra, margin)
	}
	return nil
}
