package web

import (
	"bytes"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/microcosm-cc/bluemonday"
)

// viewerStyle is the only style of the message viewer besides what the
// sanitiser lets through.
const viewerStyle = `body{font:15px/1.45 system-ui,sans-serif;margin:8px;overflow-wrap:anywhere;color:#111;background:#fff}img{max-width:100%;height:auto}pre{white-space:pre-wrap}`

// sanitise keeps the harmless part of a message's HTML: bluemonday's
// policy for user content (no script, style, form, event handler,
// javascript: or data: URL, CSS), links that open outside. With
// images false every remote image's address is removed, so nothing is
// fetched even without the Content-Security-Policy that also forbids it.
// An image's cid: URL (RFC 2392) becomes the data: URL cids has for it
// (inlineImages), or nothing.
func sanitise(html []byte, images bool, cids map[string]string) []byte {
	p := bluemonday.UGCPolicy()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowURLSchemeWithCustomPolicy("cid", func(*url.URL) bool { return true })
	p.RewriteSrc(func(u *url.URL) {
		switch {
		case u.Scheme == "cid":
			id, err := url.PathUnescape(u.Opaque)
			if data, ok := cids[id]; ok && err == nil {
				// A data: URL parses as scheme and opaque part.
				*u = url.URL{Scheme: "data", Opaque: strings.TrimPrefix(data, "data:")}
				return
			}
			*u = url.URL{Scheme: "about", Opaque: "blank"}
		case !images:
			*u = url.URL{Scheme: "about", Opaque: "blank"}
		}
	})
	return p.SanitizeBytes(html)
}

// serveHTML returns one HTML part of the user's message as a page for a
// sandboxed iframe: sanitised, and under a Content-Security-Policy that
// sandboxes it (no scripts, no same origin, no forms) and allows images
// from elsewhere only when the user asked (?images=1). Another account's
// blob is not found, as in JMAP.
func (s *Server) serveHTML(w http.ResponseWriter, r *http.Request, sess *session) {
	data, typ, ok := s.opts.Blobs.Blob(r.Context(), sess.AccountID, r.PathValue("blob"))
	if mt, _, _ := mime.ParseMediaType(typ); !ok || (mt != "text/html" && mt != "text/plain") {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	images := r.URL.Query().Get("images") == "1"
	var body []byte
	if strings.HasPrefix(typ, "text/plain") {
		// Plain text as the same kind of page, escaped.
		body = append(append([]byte("<pre>"), []byte(escapeHTML(string(data)))...), "</pre>"...)
	} else {
		body = sanitise(data, images, s.inlineImages(r.Context(), sess.AccountID, r.PathValue("blob")))
	}
	img := "data:"
	if images {
		img = "data: https: http:"
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src "+img+"; form-action 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "private, no-cache")
	var b bytes.Buffer
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><base target="_blank"><style>` + viewerStyle + `</style></head><body>`)
	b.Write(body)
	b.WriteString(`</body></html>`)
	w.Write(b.Bytes())
}

func escapeHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// serveOriginal shows a whole message as it was received ("show
// original"), as plain text that nothing can turn into a page.
func (s *Server) serveOriginal(w http.ResponseWriter, r *http.Request, sess *session) {
	data, typ, ok := s.opts.Blobs.Blob(r.Context(), sess.AccountID, r.PathValue("blob"))
	if !ok || typ != "message/rfc822" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, no-cache")
	w.Write(data)
}
