package jmap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// uploadTTL is how long an uploaded blob that no Email references is kept
// (RFC 8620 §6.1: at least an hour).
const uploadTTL = 2 * time.Hour

// uploads keeps blobs uploaded by clients in files of one folder (never
// in memory) until they expire, at most max bytes in all (the oldest go
// first). The folder is emptied when the server starts.
type uploads struct {
	mu    sync.Mutex
	dir   string // "" until first needed when none was configured
	max   int64
	total int64
	list  []*upload // oldest first
	seq   int
}

type upload struct {
	account int64
	id      string
	typ     string
	path    string
	size    int64
	expires time.Time
}

func newUploads(dir string, max int64) *uploads {
	if dir != "" {
		os.RemoveAll(dir) // blobs of an earlier run are gone with its memory
	}
	return &uploads{dir: dir, max: max}
}

// receive streams an upload of at most limit bytes into a file; tooLarge
// is true (and nothing kept) when r has more.
func (u *uploads) receive(account int64, typ string, r io.Reader, limit int64) (up *upload, tooLarge bool, err error) {
	u.mu.Lock()
	if u.dir == "" {
		if u.dir, err = os.MkdirTemp("", "pochta-jmap-uploads-"); err != nil {
			u.mu.Unlock()
			return nil, false, err
		}
	}
	u.seq++
	path := filepath.Join(u.dir, strconv.FormatInt(account, 10)+"-"+strconv.Itoa(u.seq))
	u.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, false, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || n > limit {
		os.Remove(path)
		return nil, n > limit, err
	}
	up = &upload{account: account, id: "u" + hex.EncodeToString(h.Sum(nil)[:16]), typ: typ, path: path, size: n,
		expires: time.Now().Add(uploadTTL)}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expire(time.Now())
	for len(u.list) > 0 && u.total+n > u.max {
		u.drop()
	}
	u.list = append(u.list, up)
	u.total += n
	return up, false, nil
}

// drop forgets the oldest upload and removes its file.
func (u *uploads) drop() {
	os.Remove(u.list[0].path)
	u.total -= u.list[0].size
	u.list = u.list[1:]
}

func (u *uploads) expire(now time.Time) {
	for len(u.list) > 0 && now.After(u.list[0].expires) {
		u.drop()
	}
}

// get returns an upload's content (read from its file) and type.
func (u *uploads) get(account int64, id string) ([]byte, string, bool) {
	u.mu.Lock()
	u.expire(time.Now())
	var found *upload
	for i := len(u.list) - 1; i >= 0; i-- {
		if up := u.list[i]; up.account == account && up.id == id {
			found = up
			break
		}
	}
	u.mu.Unlock()
	if found == nil {
		return nil, "", false
	}
	data, err := os.ReadFile(found.path)
	if err != nil { // dropped meanwhile
		return nil, "", false
	}
	return data, found.typ, true
}

// blob returns the content of a blob id: an upload, a whole message or
// one part of a message (decoded).
func (s *Server) blob(c *call, id string) ([]byte, bool) {
	data, _, ok := s.blobContent(c.ctx, c.acct.ID, id)
	return data, ok
}

// Blob returns the content and media type of one of an account's blobs
// (a message, a part of one, an upload), for the webmail's reader.
func (s *Server) Blob(ctx context.Context, accountID int64, blobID string) ([]byte, string, bool) {
	return s.blobContent(ctx, accountID, blobID)
}

// serveUpload stores a blob (RFC 8620 §6.1).
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, acct *account) {
	if strings.Trim(strings.TrimPrefix(r.URL.Path, "/jmap/upload/"), "/") != acct.id {
		writeProblem(w, &Problem{Type: "about:blank", Status: http.StatusNotFound, Detail: "unknown account"})
		return
	}
	l := s.opts.Limits
	if !s.enter(s.uploadsN, acct.ID, l.MaxConcurrentUpload) {
		writeProblem(w, &Problem{Type: "urn:ietf:params:jmap:error:limit", Status: http.StatusTooManyRequests, Limit: "maxConcurrentUpload"})
		return
	}
	defer s.leave(s.uploadsN, acct.ID)
	extendDeadlines(w)
	typ := r.Header.Get("Content-Type")
	if typ == "" {
		typ = "application/octet-stream"
	}
	up, tooLarge, err := s.blobs.receive(acct.ID, typ, r.Body, l.MaxSizeUpload)
	if tooLarge {
		writeProblem(w, &Problem{Type: "urn:ietf:params:jmap:error:limit", Status: http.StatusRequestEntityTooLarge, Limit: "maxSizeUpload"})
		return
	}
	if err != nil {
		s.opts.Logger.Error("jmap: storing an upload", "err", err)
		http.Error(w, "upload failed", http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"accountId": acct.id, "blobId": up.id, "type": typ, "size": up.size})
}

// serveDownload sends a blob (RFC 8620 §6.2):
// /jmap/download/{accountId}/{blobId}/{name}?type={type}.
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request, acct *account) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/jmap/download/"), "/", 3)
	if len(parts) != 3 || parts[0] != acct.id {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	data, typ, ok := s.blobContent(r.Context(), acct.ID, parts[1])
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if t := r.URL.Query().Get("type"); t != "" {
		typ = t
	}
	extendDeadlines(w)
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": parts[2]}))
	// Mail content is never a page of this origin, even if a browser is
	// told to show it.
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, immutable, max-age=31536000")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// blobContent finds a blob of the account by id, with its media type.
func (s *Server) blobContent(ctx context.Context, acctID int64, id string) ([]byte, string, bool) {
	if strings.HasPrefix(id, "u") {
		return s.blobs.get(acctID, id)
	}
	n, partID, ok := parseID(id, 'b')
	if !ok {
		return nil, "", false
	}
	found, err := s.st.FindEmails(ctx, acctID, []int64{n})
	if err != nil || len(found) == 0 {
		return nil, "", false
	}
	raw, err := s.raw(ctx, refOf(found[n]))
	if err != nil {
		return nil, "", false
	}
	if partID == "" {
		return raw, "message/rfc822", true
	}
	p := parseParts(raw).find(partID)
	if p == nil {
		return nil, "", false
	}
	return p.Body, p.Type, true
}

// extendDeadlines lifts the HTTP server's read and write timeouts for a
// long transfer or a push stream.
func extendDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
}
