// Package web is the webmail's server side: the static browser app
// (built from webmail/ and embedded), logins into server-side sessions
// kept in the store (a cookie plus a per-session CSRF token), the second
// factor (TOTP, RFC 6238), settings, and the sanitised HTML of messages.
// Everything about mail itself goes through JMAP (internal/jmap), which
// accepts the session through Server.Authenticated.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"pochta/internal/ratelimit"
	"pochta/internal/store"
)

//go:embed assets
var assets embed.FS

// Login checks a password as every protocol does (auth.ProtoAuthenticator):
// the same rate limits and failure delays.
type Login interface {
	Login(ctx context.Context, username, password string, remote netip.Addr) (store.Account, error)
}

// Store is what the webmail keeps and changes.
type Store interface {
	store.WebSessions
	store.AppPasswords
	store.SCRAMStore
	store.AccountFlagStore
	store.SieveStore
	store.ServerState
	store.AccountEvents
	GetAccountByID(ctx context.Context, id int64) (store.Account, error)
	SetPasswordHash(ctx context.Context, address, hash string) error
}

// Blobs reads a message part of an account (jmap.Server.Blob).
type Blobs interface {
	Blob(ctx context.Context, accountID int64, blobID string) ([]byte, string, bool)
	// MessageBlob: the whole message's blob id for a part's blob id
	// (jmap.Server.MessageBlob; the id format is JMAP's business).
	MessageBlob(blobID string) (string, bool)
}

// Options configure a Server.
type Options struct {
	Store Store
	Login Login
	Blobs Blobs
	// PlaintextAllowed says whether a password may come over this
	// connection without TLS (auth.Authenticator.PlaintextAllowed); when
	// not, plain http is redirected to https.
	PlaintextAllowed func(remote net.Addr, tlsActive bool) bool
	// HTTPSPort is the port of the https listener for that redirect ("" =
	// 443).
	HTTPSPort string
	// SessionTTL is how long a session lasts (0: 7 days).
	SessionTTL time.Duration
	// Issuer names this server in authenticator apps.
	Issuer string
	// AuthservID is the authserv-id of the Authentication-Results fields
	// this server adds (RFC 8601 §2.5): the only ones the webmail shows.
	AuthservID string
	Logger     *slog.Logger
}

// Server is the webmail; Register puts it on a mux.
type Server struct {
	opts  Options
	totp  *ratelimit.Window // failed second factors per account
	files fs.FS
}

// New makes a Server.
func New(opts Options) *Server {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 7 * 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	files, _ := fs.Sub(assets, "assets")
	return &Server{opts: opts, files: files, totp: ratelimit.NewWindow(5, 15*time.Minute, ratelimit.Options{})}
}

// Register adds the webmail's endpoints to mux: the app at /, its API
// under /web/.
func (s *Server) Register(mux *http.ServeMux) {
	static := http.FileServerFS(s.files)
	mux.Handle("GET /{$}", s.secure(s.headers(static)))
	mux.Handle("GET /assets/", s.secure(s.headers(http.StripPrefix("/assets", static))))
	mux.Handle("GET /web/session", s.secure(s.authed(s.serveSession)))
	mux.Handle("POST /web/login", s.secure(http.HandlerFunc(s.serveLogin)))
	mux.Handle("POST /web/logout", s.secure(s.authed(s.serveLogout)))
	mux.Handle("POST /web/logout-all", s.secure(s.authed(s.serveLogoutAll)))
	mux.Handle("GET /web/html/{blob}", s.secure(s.authed(s.serveHTML)))
	mux.Handle("GET /web/original/{blob}", s.secure(s.authed(s.serveOriginal)))
	mux.Handle("POST /web/password", s.secure(s.authed(s.servePassword)))
	mux.Handle("GET /web/app-passwords", s.secure(s.authed(s.serveAppPasswords)))
	mux.Handle("POST /web/app-passwords", s.secure(s.authed(s.serveAddAppPassword)))
	mux.Handle("POST /web/app-passwords/delete", s.secure(s.authed(s.serveRemoveAppPassword)))
	mux.Handle("POST /web/totp/new", s.secure(s.authed(s.serveTOTPNew)))
	mux.Handle("POST /web/totp/enable", s.secure(s.authed(s.serveTOTPEnable)))
	mux.Handle("POST /web/totp/disable", s.secure(s.authed(s.serveTOTPDisable)))
	mux.Handle("POST /web/settings", s.secure(s.authed(s.serveSettings)))
	mux.Handle("GET /web/sieve", s.secure(s.authed(s.serveSieve)))
	mux.Handle("POST /web/sieve", s.secure(s.authed(s.serveSaveSieve)))
	mux.Handle("POST /web/sieve/rule", s.secure(s.authed(s.serveAddRule)))
	mux.Handle("POST /web/remote-images", s.secure(s.authed(s.serveImageSender)))
}

// secure redirects plain http to https unless a password may travel
// without TLS here (from loopback by default), as the other protocols
// refuse plaintext logins.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil && s.opts.PlaintextAllowed != nil && !s.opts.PlaintextAllowed(remoteTCP(r), false) {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			if s.opts.HTTPSPort != "" && s.opts.HTTPSPort != "443" {
				host = net.JoinHostPort(host, s.opts.HTTPSPort)
			}
			http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headers sets the app's own policy: only its own scripts and styles,
// frames only from here (the message viewer), never framed elsewhere.
func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

func remoteAddr(r *http.Request) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func remoteTCP(r *http.Request) net.Addr { return net.TCPAddrFromAddrPort(remoteAddr(r)) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// readJSON decodes a small JSON request body into v.
func readJSON(r *http.Request, v any) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return false
	}
	return json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(v) == nil
}
