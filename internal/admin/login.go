package admin

import (
	"crypto/subtle"
	"errors"
	"net/http"

	"pochta/internal/auth"
)

// loginPage shows the login form; its CSRF token is a random value also
// kept in a cookie of its own (login CSRF: nobody else's form can log a
// browser in).
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if sess := s.sessions.get(r); sess != nil {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return
	}
	s.loginForm(w, r, http.StatusOK, "")
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, status int, msg string) {
	token := randomToken()
	setCookie(w, r, loginCookieName, token, 3600)
	s.render(w, status, "login", view{Title: "Log in", CSRF: token, Error: msg})
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookieName)
	form := r.PostFormValue("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(form), []byte(c.Value)) != 1 || !sameOrigin(r) {
		s.errorPage(w, http.StatusForbidden, "Refused: the login form's CSRF token is missing or wrong. Reload the page and try again.")
		return
	}
	ip, addr := remoteAddr(r)
	if s.opts.PlaintextAllowed != nil && (addr == nil || !s.opts.PlaintextAllowed(addr, r.TLS != nil)) {
		s.loginForm(w, r, http.StatusForbidden, "Passwords are taken over HTTPS only: use the https address.")
		return
	}
	acct, err := s.opts.Login.Login(r.Context(), r.PostFormValue("username"), r.PostFormValue("password"), ip)
	switch {
	case errors.Is(err, auth.ErrTooManyFailures), errors.Is(err, auth.ErrTooManyLogins):
		s.loginForm(w, r, http.StatusTooManyRequests, "Too many attempts: try again later.")
		return
	case errors.Is(err, auth.ErrInvalid):
		s.loginForm(w, r, http.StatusUnauthorized, "Wrong address or password.")
		return
	case err != nil:
		s.log.Error("admin: login failed", "err", err)
		s.loginForm(w, r, http.StatusServiceUnavailable, "The login could not be checked now: try again later.")
		return
	}
	ok, err := s.opts.IsAdmin(r.Context(), acct.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.log.Info("admin: refused a login of a non-admin account", "account", acct.Address)
		s.loginForm(w, r, http.StatusForbidden, "This account may not use the admin (pochta user admin ADDRESS on).")
		return
	}
	setCookie(w, r, loginCookieName, "", -1)
	s.sessions.start(w, r, acct.Address, acct.ID)
	s.log.Info("admin: logged in", "account", acct.Address)
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *session) {
	s.sessions.drop(sess.token)
	setCookie(w, r, cookieName, "", -1)
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}
