package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pquerna/otp/totp"

	"pochta/internal/auth"
	"pochta/internal/store"
)

const (
	cookieName = "pochta_session"
	// csrfHeader carries the session's CSRF token on every request that
	// changes something (JMAP API calls and uploads included).
	csrfHeader = "X-CSRF-Token"
)

// session is the logged-in user of one request.
type session struct {
	store.WebSession
	acct store.Account
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sessionID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// sameOrigin refuses requests another site made the browser send: the
// Origin (sent by browsers on every POST) must be this host, and
// Sec-Fetch-Site, when sent, must say so too. With the SameSite=Strict
// cookie and the CSRF token this is the third line of defence.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not from a browser's cross-site request
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// current finds the request's session; for any method but GET and HEAD
// the CSRF token must come with it and the request must be same-origin.
func (s *Server) current(r *http.Request) (*session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil, false
	}
	ws, err := s.opts.Store.WebSession(r.Context(), sessionID(c.Value))
	if err != nil {
		return nil, false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		tok := r.Header.Get(csrfHeader)
		if !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(tok), []byte(ws.CSRF)) != 1 {
			return nil, false
		}
	}
	acct, err := s.opts.Store.GetAccountByID(r.Context(), ws.AccountID)
	if err != nil {
		return nil, false
	}
	// A disabled account's sessions stop at once, as its logins do
	// (auth.ErrDisabled); they work again if it is enabled before they
	// expire. A password changed elsewhere ends them in manage.SetPassword.
	if f, err := s.opts.Store.AccountFlags(r.Context(), acct.ID); err != nil || f.Disabled {
		return nil, false
	}
	return &session{WebSession: ws, acct: acct}, true
}

// Authenticated is jmap.Options.Authenticated: a JMAP request carrying a
// valid session cookie (and, unless it is a GET, the CSRF token) is the
// session's account.
func (s *Server) Authenticated(r *http.Request) (store.Account, bool) {
	sess, ok := s.current(r)
	if !ok {
		return store.Account{}, false
	}
	return sess.acct, true
}

// authed runs next for a request with a valid session, 401 otherwise.
func (s *Server) authed(next func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.current(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, "not logged in")
			return
		}
		next(w, r, sess)
	})
}

// startSession makes a new session for acct and sets its cookie: Secure
// over TLS, never readable by scripts, never sent by other sites.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, acct store.Account) (store.WebSession, error) {
	secret := randomToken()
	now := time.Now()
	ws := store.WebSession{ID: sessionID(secret), AccountID: acct.ID, CSRF: randomToken(), Created: now, Expires: now.Add(s.opts.SessionTTL)}
	if err := s.opts.Store.AddWebSession(r.Context(), ws); err != nil {
		return store.WebSession{}, err
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: secret, Path: "/", Expires: ws.Expires,
		Secure: r.TLS != nil, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return ws, nil
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		Secure: r.TLS != nil, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// serveLogin checks the form's username and password through the same
// login as every protocol (rate limits included) and, when the account
// has one, the TOTP code; then starts a session.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "cross-site request refused")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "bad form")
		return
	}
	user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
	remote := remoteAddr(r)
	acct, err := s.opts.Login.Login(r.Context(), user, pass, remote.Addr())
	switch {
	case errors.Is(err, auth.ErrTooManyFailures):
		writeError(w, http.StatusTooManyRequests, "too many failed logins, try again later")
		return
	case err != nil:
		s.opts.Logger.Info("webmail login failed", "user", user, "remote", remote.Addr(), "err", err)
		writeError(w, http.StatusUnauthorized, "wrong user name or password")
		return
	}
	set, err := s.opts.Store.WebSettings(r.Context(), acct.ID)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	if set.TOTPSecret != "" {
		code := r.PostForm.Get("totp")
		key := acctKey(acct.ID)
		switch {
		case code == "":
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "code needed", "totp": true})
			return
		case s.totp.Exceeded(key):
			writeError(w, http.StatusTooManyRequests, "too many wrong codes, try again later")
			return
		case !totp.Validate(code, set.TOTPSecret):
			s.totp.Allow(key)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "wrong code", "totp": true})
			return
		}
	}
	ws, err := s.startSession(w, r, acct)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	s.opts.Logger.Info("webmail login", "user", acct.Address, "remote", remote.Addr())
	s.writeSession(w, r, acct, ws.CSRF)
}

func acctKey(id int64) string { return strconv.FormatInt(id, 10) }

// serveSession tells the app who is logged in, with the CSRF token it
// must send back and the settings.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, sess *session) {
	s.writeSession(w, r, sess.acct, sess.CSRF)
}

func (s *Server) writeSession(w http.ResponseWriter, r *http.Request, acct store.Account, csrf string) {
	set, err := s.opts.Store.WebSettings(r.Context(), acct.ID)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	senders, err := s.imageSenders(r, acct)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"username": acct.Address, "csrf": csrf,
		"totp": set.TOTPSecret != "", "signature": set.Signature, "language": set.Language,
		"authservId": s.opts.AuthservID, "imageSenders": append([]string{}, senders...),
		// The full names of nested folders (Sieve's fileinto) join
		// JMAP's names with it.
		"mailboxDelimiter": store.Delimiter})
}

func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request, sess *session) {
	if err := s.opts.Store.RemoveWebSession(r.Context(), sess.ID); err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	clearCookie(w, r)
	writeJSON(w, http.StatusOK, map[string]any{})
}

// serveLogoutAll ends every session of the account, on every browser.
func (s *Server) serveLogoutAll(w http.ResponseWriter, r *http.Request, sess *session) {
	n, err := s.opts.Store.RemoveWebSessions(r.Context(), sess.AccountID)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	clearCookie(w, r)
	writeJSON(w, http.StatusOK, map[string]any{"ended": n})
}
