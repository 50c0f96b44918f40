package web

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"

	"pochta/internal/auth"
	"pochta/internal/store"
)

// minPasswordLength is the shortest new password the webmail accepts.
const minPasswordLength = 8

// servePassword changes the account's main password after checking the
// current one (an app password is not enough), with its SCRAM verifier,
// and ends every other session, the mail clients' included.
func (s *Server) servePassword(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct{ Current, New string }
	if !readJSON(r, &req) {
		writeError(w, http.StatusBadRequest, "bad request")
		return
	}
	if sess.acct.PasswordHash == "" {
		writeError(w, http.StatusConflict, "this account's password is kept by a directory")
		return
	}
	if !auth.Verify(sess.acct.PasswordHash, req.Current) {
		writeError(w, http.StatusForbidden, "the current password is wrong")
		return
	}
	if len([]rune(req.New)) < minPasswordLength {
		writeError(w, http.StatusBadRequest, "the new password is too short")
		return
	}
	hash, err := auth.Hash(req.New)
	if err == nil {
		err = s.opts.Store.SetPasswordHash(r.Context(), sess.acct.Address, hash)
	}
	if err == nil {
		err = auth.SetSCRAMKeys(r.Context(), s.opts.Store, sess.acct.Address, hash, req.New)
	}
	if err == nil {
		_, err = s.opts.Store.RemoveWebSessions(r.Context(), sess.AccountID)
	}
	if err == nil {
		// Mail clients logged in with the old password end too, on every
		// node (internal/revocation).
		err = s.opts.Store.AddAccountEvent(r.Context(), sess.AccountID)
	}
	var ws store.WebSession
	if err == nil {
		ws, err = s.startSession(w, r, sess.acct)
	}
	if err != nil {
		s.opts.Logger.Warn("webmail password change failed", "user", sess.acct.Address, "err", err)
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	s.opts.Logger.Info("webmail password changed", "user", sess.acct.Address)
	s.writeSession(w, r, sess.acct, ws.CSRF)
}

func (s *Server) serveAppPasswords(w http.ResponseWriter, r *http.Request, sess *session) {
	list, err := s.opts.Store.AppPasswords(r.Context(), sess.AccountID)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	out := []map[string]any{}
	for _, p := range list {
		out = append(out, map[string]any{"name": p.Name, "created": p.Created.Format(time.RFC3339), "protocols": p.Protocols})
	}
	writeJSON(w, http.StatusOK, out)
}

// serveAddAppPassword makes an app password and shows its secret once.
func (s *Server) serveAddAppPassword(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct{ Name string }
	if !readJSON(r, &req) {
		writeError(w, http.StatusBadRequest, "bad request")
		return
	}
	secret := auth.GenerateAppPassword()
	_, err := s.opts.Store.AddAppPassword(r.Context(), store.AppPassword{AccountID: sess.AccountID, Name: req.Name, Hash: auth.AppPasswordHash(secret)})
	switch {
	case errors.Is(err, store.ErrExists):
		writeError(w, http.StatusConflict, "an app password of that name exists")
	case errors.Is(err, store.ErrInvalidName):
		writeError(w, http.StatusBadRequest, "give the app password a name")
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "try again later")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"name": strings.TrimSpace(req.Name), "password": secret})
	}
}

func (s *Server) serveRemoveAppPassword(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct{ Name string }
	if !readJSON(r, &req) {
		writeError(w, http.StatusBadRequest, "bad request")
		return
	}
	if err := s.opts.Store.RemoveAppPassword(r.Context(), sess.AccountID, req.Name); err != nil {
		writeError(w, http.StatusNotFound, "no such app password")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// serveTOTPNew makes a secret for an authenticator app (RFC 6238), shown
// as text, otpauth: URL and QR code; nothing is stored until the user
// proves the app has it (serveTOTPEnable).
func (s *Server) serveTOTPNew(w http.ResponseWriter, r *http.Request, sess *session) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.opts.Issuer, AccountName: sess.acct.Address})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	qr := ""
	if img, err := key.Image(200, 200); err == nil {
		var b bytes.Buffer
		if png.Encode(&b, img) == nil {
			qr = "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"secret": key.Secret(), "url": key.URL(), "qr": qr})
}

// serveTOTPEnable turns the second factor on once a code from the secret
// checks.
func (s *Server) serveTOTPEnable(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct{ Secret, Code string }
	if !readJSON(r, &req) || req.Secret == "" || !totp.Validate(strings.TrimSpace(req.Code), req.Secret) {
		writeError(w, http.StatusBadRequest, "wrong code")
		return
	}
	s.updateSettings(w, r, sess, func(set *store.WebSettings) { set.TOTPSecret = req.Secret })
}

// serveTOTPDisable turns it off, given a current code.
func (s *Server) serveTOTPDisable(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct{ Code string }
	set, err := s.opts.Store.WebSettings(r.Context(), sess.AccountID)
	if err != nil || !readJSON(r, &req) || set.TOTPSecret == "" || !totp.Validate(strings.TrimSpace(req.Code), set.TOTPSecret) {
		writeError(w, http.StatusBadRequest, "wrong code")
		return
	}
	s.updateSettings(w, r, sess, func(set *store.WebSettings) { set.TOTPSecret = "" })
}

// serveSettings saves the signature and the language.
func (s *Server) serveSettings(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct{ Signature, Language string }
	if !readJSON(r, &req) || len(req.Signature) > 10000 || (req.Language != "" && req.Language != "en" && req.Language != "ru") {
		writeError(w, http.StatusBadRequest, "bad request")
		return
	}
	s.updateSettings(w, r, sess, func(set *store.WebSettings) { set.Signature, set.Language = req.Signature, req.Language })
}

func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request, sess *session, change func(*store.WebSettings)) {
	set, err := s.opts.Store.WebSettings(r.Context(), sess.AccountID)
	if err == nil {
		change(&set)
		err = s.opts.Store.SetWebSettings(r.Context(), sess.AccountID, set)
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	s.writeSession(w, r, sess.acct, sess.CSRF)
}
