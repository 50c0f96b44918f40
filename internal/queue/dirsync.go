package queue

import "sync"

// dirSync fsyncs one directory for many callers at once (group commit of
// directory entries): a caller that has created, renamed or removed an
// entry calls sync, which returns after an fsync of the directory that
// began after the call. Callers that arrive while an fsync runs share the
// next one, so N concurrent removals cost about two fsyncs, not N.
type dirSync struct {
	path string

	mu      sync.Mutex
	next    *syncRound // the round callers join; nil when none waits
	running bool       // a goroutine runs rounds
}

// syncRound is one fsync and the callers waiting for it.
type syncRound struct {
	done chan struct{}
	err  error
}

func newDirSync(path string) *dirSync { return &dirSync{path: path} }

// sync returns once an fsync of the directory started after this call has
// finished, with its error.
func (d *dirSync) sync() error {
	d.mu.Lock()
	r := d.next
	if r == nil {
		r = &syncRound{done: make(chan struct{})}
		d.next = r
	}
	if !d.running {
		d.running = true
		go d.run()
	}
	d.mu.Unlock()
	<-r.done
	return r.err
}

// run syncs rounds until nobody waits.
func (d *dirSync) run() {
	for {
		d.mu.Lock()
		r := d.next
		d.next = nil
		if r == nil {
			d.running = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		r.err = syncDir(d.path)
		close(r.done)
	}
}
