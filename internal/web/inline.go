package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"strings"

	gomessage "github.com/emersion/go-message"
)

// Inline images: an HTML part names the images sent with it by cid: URLs
// (RFC 2392), each the Content-ID of a part of the same message
// (multipart/related, RFC 2387). The sandboxed frame cannot fetch them
// (it does not send the SameSite=Strict cookie), so the server puts them
// into the page as data: URLs while sanitising.

const (
	maxInlineImage = 2 << 20 // bytes of one image
	maxInlineTotal = 8 << 20 // bytes of all a page's images
)

// inlineTypes are the image types put into pages (no SVG: an image, not a
// document).
var inlineTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// inlineImages returns the data: URL of each image part of the message
// that holds the part blobID, by its Content-ID without angle brackets;
// nil when there are none.
func (s *Server) inlineImages(ctx context.Context, accountID int64, blobID string) map[string]string {
	msgBlob, isPart := s.opts.Blobs.MessageBlob(blobID)
	if !isPart {
		return nil
	}
	raw, typ, ok := s.opts.Blobs.Blob(ctx, accountID, msgBlob)
	if !ok || typ != "message/rfc822" {
		return nil
	}
	return imagesByCID(raw)
}

// imagesByCID walks a message's parts for images with a Content-ID.
func imagesByCID(raw []byte) map[string]string {
	e, err := gomessage.Read(bytes.NewReader(raw))
	if e == nil || (err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err)) {
		return nil
	}
	out := map[string]string{}
	total := 0
	e.Walk(func(_ []int, p *gomessage.Entity, err error) error {
		if err != nil || p == nil {
			return nil
		}
		cid := strings.TrimSpace(p.Header.Get("Content-Id"))
		cid = strings.TrimSuffix(strings.TrimPrefix(cid, "<"), ">")
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if cid == "" || !inlineTypes[mt] || out[cid] != "" {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(p.Body, maxInlineImage+1))
		if err != nil || len(data) > maxInlineImage || total+len(data) > maxInlineTotal {
			return nil
		}
		total += len(data)
		out[cid] = "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(data)
		return nil
	})
	if len(out) == 0 {
		return nil
	}
	return out
}
