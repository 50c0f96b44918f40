package jmap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// uploadTTL is how long an uploaded blob that no Email references is kept
// (RFC 8620 §6.1: at least an hour).
const uploadTTL = 2 * time.Hour

// uploads keeps blobs uploaded by clients in memory until they are
// imported or expire, at most max bytes in all (the oldest go first).
type uploads struct {
	mu    sync.Mutex
	max   int64
	total int64
	list  []*upload // oldest first
}

type upload struct {
	account int64
	id      string
	typ     string
	data    []byte
	expires time.Time
}

func newUploads(max int64) *uploads { return &uploads{max: max} }

func (u *uploads) add(account int64, typ string, data []byte) *upload {
	sum := sha256.Sum256(data)
	up := &upload{account: account, id: "u" + hex.EncodeToString(sum[:16]), typ: typ, data: data,
		expires: time.Now().Add(uploadTTL)}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expire(time.Now())
	for len(u.list) > 0 && u.total+int64(len(data)) > u.max {
		u.total -= int64(len(u.list[0].data))
		u.list = u.list[1:]
	}
	u.list = append(u.list, up)
	u.total += int64(len(data))
	return up
}

func (u *uploads) expire(now time.Time) {
	i := 0
	for i < len(u.list) && now.After(u.list[i].expires) {
		u.total -= int64(len(u.list[i].data))
		i++
	}
	u.list = u.list[i:]
}

func (u *uploads) get(account int64, id string) *upload {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.expire(time.Now())
	for i := len(u.list) - 1; i >= 0; i-- {
		if up := u.list[i]; up.account == account && up.id == id {
			return up
		}
	}
	return nil
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
	data, err := io.ReadAll(io.LimitReader(r.Body, l.MaxSizeUpload+1))
	if err != nil {
		http.Error(w, "read failed", http.StatusBadRequest)
		return
	}
	if int64(len(data)) > l.MaxSizeUpload {
		writeProblem(w, &Problem{Type: "urn:ietf:params:jmap:error:limit", Status: http.StatusRequestEntityTooLarge, Limit: "maxSizeUpload"})
		return
	}
	typ := r.Header.Get("Content-Type")
	if typ == "" {
		typ = "application/octet-stream"
	}
	up := s.blobs.add(acct.ID, typ, data)
	writeJSON(w, http.StatusCreated, map[string]any{"accountId": acct.id, "blobId": up.id, "type": typ, "size": len(data)})
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
		up := s.blobs.get(acctID, id)
		if up == nil {
			return nil, "", false
		}
		return up.data, up.typ, true
	}
	ref, partID, ok := parseRef(id, 'b')
	if !ok || !s.owned(ctx, acctID, ref.Mailbox) {
		return nil, "", false
	}
	raw, err := s.raw(ctx, ref)
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
