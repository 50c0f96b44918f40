package jmap

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"pochta/internal/store"
)

// uploadTTL is how long an uploaded blob is kept, whether or not an
// Email references it (RFC 8620 §6.1: at least an hour).
const uploadTTL = 2 * time.Hour

// uploadsHeld is how many uploads of the largest size an account may hold
// at once; beyond that an upload is refused until some expire.
const uploadsHeld = 8

// cleanupEvery is how often (at most) an upload also removes the expired
// uploads of every account.
const cleanupEvery = 10 * time.Minute

// cleanupUploads removes expired uploads from the store when the last
// cleanup is older than cleanupEvery; one caller at a time does it.
func (s *Server) cleanupUploads(ctx context.Context) {
	now := time.Now()
	last := s.lastCleanup.Load()
	if now.UnixNano()-last < int64(cleanupEvery) || !s.lastCleanup.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if _, err := s.opts.Uploads.RemoveExpiredUploads(ctx, now); err != nil {
		s.opts.Logger.Warn("jmap: removing expired uploads", "err", err)
	}
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

// MessageBlob returns the blob id of the whole message that a part's blob
// id belongs to; ok is false when blobID does not name a message part.
func (s *Server) MessageBlob(blobID string) (string, bool) {
	n, part, ok := parseID(blobID, 'b')
	if !ok || part == "" {
		return "", false
	}
	return msgRef{Email: n}.blobID(), true
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
	s.cleanupUploads(r.Context())
	up, tooLarge, err := s.opts.Uploads.PutUpload(r.Context(), acct.ID, typ, r.Body,
		store.UploadLimits{MaxSize: l.MaxSizeUpload, MaxHeld: uploadsHeld * l.MaxSizeUpload, TTL: uploadTTL})
	if tooLarge {
		writeProblem(w, &Problem{Type: "urn:ietf:params:jmap:error:limit", Status: http.StatusRequestEntityTooLarge, Limit: "maxSizeUpload"})
		return
	}
	if errors.Is(err, store.ErrOverQuota) {
		// RFC 8620 §6.1 leaves the answer to an upload over the account's
		// quota for unreferenced blobs open; the name is JMAP's for a
		// quota refusal (RFC 8620 §5.3 overQuota).
		writeProblem(w, &Problem{Type: "urn:ietf:params:jmap:error:overQuota", Status: http.StatusForbidden,
			Detail: "the account's uploads hold too much; wait until older ones expire"})
		return
	}
	if err != nil {
		s.opts.Logger.Error("jmap: storing an upload", "err", err)
		http.Error(w, "upload failed", http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"accountId": acct.id, "blobId": up.ID, "type": typ, "size": up.Size})
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
		up, data, err := s.opts.Uploads.GetUpload(ctx, acctID, id)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				s.opts.Logger.Error("jmap: reading an upload", "err", err)
			}
			return nil, "", false
		}
		return data, up.Type, true
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
