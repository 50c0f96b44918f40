package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

const (
	cookieName      = "pochta_admin"
	loginCookieName = "pochta_admin_login" // the login form's CSRF token
	maxSessions     = 10000
)

// session is one logged-in admin.
type session struct {
	token     string
	csrf      string
	account   string
	accountID int64
	expires   time.Time

	mu           sync.Mutex
	flash, error string // the last POST's outcome, shown once
}

func (s *session) checkCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}

func (s *session) setFlash(msg, err string) {
	s.mu.Lock()
	s.flash, s.error = msg, err
	s.mu.Unlock()
}

func (s *session) takeFlash() (msg, err string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg, err = s.flash, s.error
	s.flash, s.error = "", ""
	return msg, err
}

// sessions are kept in memory: a restart logs every admin out.
type sessions struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{ttl: ttl, m: map[string]*session{}}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails on Linux (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start makes a session for the account and sets its cookie.
func (ss *sessions) start(w http.ResponseWriter, r *http.Request, account string, id int64) *session {
	now := time.Now()
	s := &session{token: randomToken(), csrf: randomToken(), account: account, accountID: id, expires: now.Add(ss.ttl)}
	ss.mu.Lock()
	for t, old := range ss.m { // bounded memory: expired ones go first
		if now.After(old.expires) || len(ss.m) >= maxSessions {
			delete(ss.m, t)
		}
	}
	ss.m[s.token] = s
	ss.mu.Unlock()
	setCookie(w, r, cookieName, s.token, int(ss.ttl.Seconds()))
	return s
}

// get returns the request's live session, or nil.
func (ss *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[c.Value]
	if s == nil || time.Now().After(s.expires) {
		return nil
	}
	return s
}

func (ss *sessions) drop(token string) {
	ss.mu.Lock()
	delete(ss.m, token)
	ss.mu.Unlock()
}

// setCookie sets an admin cookie: HttpOnly, SameSite=Strict, limited
// to /admin/, Secure when the request came over TLS. maxAge < 0 deletes.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/admin/", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
}
