// Package admin is the web admin at /admin/ for accounts with the admin
// flag (`pochta user add --admin`, `pochta user admin ADDR on`): a
// dashboard, domains (with the DNS records to publish and a live check
// of what DNS says), accounts, aliases, the queue and DKIM keys. Pages
// are rendered on the server (html/template) and work without
// JavaScript; the little script there is only asks before destructive
// actions. Nothing is loaded from elsewhere, and a strict
// Content-Security-Policy says so.
//
// Logins go through the same auth path as every protocol (rate limits,
// failure delays, disabled accounts); a session is a random token in an
// HttpOnly, SameSite=Strict cookie (Secure over TLS), and every POST
// carries the session's CSRF token. Every change calls internal/manage,
// the same functions as the command line.
package admin

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"pochta/internal/dns"
	"pochta/internal/manage"
	"pochta/internal/metrics"
	"pochta/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Login checks a user's password the way every protocol does
// (auth.ProtoAuthenticator).
type Login interface {
	Login(ctx context.Context, username, password string, remote netip.Addr) (store.Account, error)
}

// Options configure the web admin.
type Options struct {
	Manager *manage.Manager // the actions, the store, the configuration
	Login   Login
	// IsAdmin tells whether an account may use the admin; asked at login
	// and on every request, so taking the flag away ends its sessions.
	IsAdmin func(ctx context.Context, accountID int64) (bool, error)
	// PlaintextAllowed says whether a password may come over this
	// connection (auth.Authenticator.PlaintextAllowed); nil: always.
	PlaintextAllowed func(remote net.Addr, tlsActive bool) bool
	Resolver         *dns.Resolver    // the live DNS check
	Metrics          *metrics.Metrics // the dashboard's counters (nil: none)
	// KickQueue makes the running queue read management requests now
	// (queue.Queue.Rescan); nil: it reads them on its own schedule.
	KickQueue func()
	Logger    *slog.Logger
	// SessionTTL is how long a login lasts (12 hours).
	SessionTTL time.Duration
}

// Server serves the admin pages.
type Server struct {
	opts     Options
	pages    map[string]*template.Template
	sessions *sessions
	log      *slog.Logger
}

// New builds the admin.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	s := &Server{opts: opts, pages: map[string]*template.Template{}, sessions: newSessions(opts.SessionTTL), log: opts.Logger}
	funcs := template.FuncMap{"bytes": humanBytes, "since": since, "join": strings.Join}
	for _, page := range []string{"login", "dashboard", "domains", "domain", "accounts", "aliases", "queue", "message", "dkim", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("admin: template %s: %w", page, err)
		}
		s.pages[page] = t
	}
	return s, nil
}

// Register adds the admin's routes under /admin/ to mux.
func (s *Server) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /admin/static/", s.secure(http.StripPrefix("/admin/static/", http.FileServerFS(static))))
	mux.Handle("GET /admin/login", s.secure(http.HandlerFunc(s.loginPage)))
	mux.Handle("POST /admin/login", s.secure(http.HandlerFunc(s.loginPost)))
	mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
	for pattern, h := range map[string]func(w http.ResponseWriter, r *http.Request, sess *session){
		"GET /admin/{$}":            s.dashboard,
		"POST /admin/logout":        s.logout,
		"GET /admin/domains":        s.domains,
		"POST /admin/domains":       s.domainsPost,
		"GET /admin/domains/{name}": s.domain,
		"GET /admin/accounts":       s.accounts,
		"POST /admin/accounts":      s.accountsPost,
		"GET /admin/aliases":        s.aliases,
		"POST /admin/aliases":       s.aliasesPost,
		"GET /admin/queue":          s.queue,
		"GET /admin/queue/{id}":     s.queueMessage,
		"POST /admin/queue":         s.queuePost,
		"GET /admin/dkim":           s.dkim,
		"POST /admin/dkim":          s.dkimPost,
		"GET /admin/":               s.notFound,
		"POST /admin/":              s.notFound,
	} {
		mux.Handle(pattern, s.secure(s.authed(h)))
	}
}

// csp allows this origin's style sheet and script only, no frames, and
// forms that post here.
const csp = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure sets the headers every admin response carries.
func (s *Server) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		// same-origin, not no-referrer: with no-referrer browsers send
		// "Origin: null" on form POSTs, which sameOrigin refuses.
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// authed runs h for a logged-in admin; others go to the login page. A
// POST needs the session's CSRF token and, when the browser names one,
// this origin.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := s.sessions.get(r)
		if sess != nil {
			ok, err := s.opts.IsAdmin(r.Context(), sess.accountID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				s.fail(w, r, err)
				return
			}
			if !ok {
				s.sessions.drop(sess.token)
				sess = nil
			}
		}
		if sess == nil {
			if r.Method != http.MethodGet {
				s.errorPage(w, http.StatusForbidden, "Not logged in (or the session expired): log in again.")
				return
			}
			http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) || !sess.checkCSRF(r.PostFormValue("csrf")) {
				s.log.Info("admin: refused a POST without a valid CSRF token", "account", sess.account, "path", r.URL.Path)
				s.errorPage(w, http.StatusForbidden, "Refused: the form's CSRF token is missing or wrong. Reload the page and try again.")
				return
			}
		}
		h(w, r, sess)
	})
}

// sameOrigin refuses a request whose Origin header (sent by browsers on
// POST) names another site.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser, or one that sends none; the token decides
	}
	i := strings.Index(o, "://")
	return i >= 0 && strings.EqualFold(o[i+3:], r.Host)
}

// view is what every page template gets.
type view struct {
	Title   string
	Account string // the logged-in admin ("" on the login page)
	CSRF    string
	Flash   string
	Error   string
	Nav     string
	Data    any
}

func (s *Server) render(w http.ResponseWriter, status int, page string, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.pages[page].ExecuteTemplate(w, "layout.html", v); err != nil {
		s.log.Error("admin: rendering", "page", page, "err", err)
	}
}

// page renders a page of a logged-in admin, with the flash message left
// by the last POST.
func (s *Server) page(w http.ResponseWriter, sess *session, page, title string, data any) {
	flash, ferr := sess.takeFlash()
	s.render(w, http.StatusOK, page, view{Title: title, Account: sess.account, CSRF: sess.csrf, Flash: flash, Error: ferr, Nav: page, Data: data})
}

func (s *Server) errorPage(w http.ResponseWriter, status int, msg string) {
	s.render(w, status, "error", view{Title: http.StatusText(status), Error: msg})
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("admin: request failed", "path", r.URL.Path, "err", err)
	s.errorPage(w, http.StatusInternalServerError, "Something went wrong: "+err.Error())
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, _ *session) {
	s.errorPage(w, http.StatusNotFound, "No such page.")
}

// done ends a POST: the outcome goes to the next page as a flash
// message, and the browser is sent back (POST/redirect/GET).
func (s *Server) done(w http.ResponseWriter, r *http.Request, sess *session, to, ok string, err error) {
	if err != nil {
		sess.setFlash("", err.Error())
	} else {
		sess.setFlash(ok, "")
		s.log.Info("admin: change", "account", sess.account, "what", ok)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func remoteAddr(r *http.Request) (netip.Addr, net.Addr) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, nil
	}
	return ap.Addr().Unmap(), net.TCPAddrFromAddrPort(ap)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func since(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return time.Since(t).Round(time.Second).String()
}
