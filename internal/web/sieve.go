package web

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"pochta/internal/sieve"
	"pochta/internal/store"
)

// webScript names the script the webmail makes for an account that has no
// active one (ManageSieve users see it under this name).
const webScript = "pochta-webmail"

// activeScript returns the account's active Sieve script, or an empty one
// named webScript when there is none.
func (s *Server) activeScript(r *http.Request, sess *session) (store.SieveScript, bool, error) {
	sc, err := s.opts.Store.ActiveSieveScript(r.Context(), sess.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		return store.SieveScript{Name: webScript}, false, nil
	}
	return sc, err == nil, err
}

// serveSieve returns the account's active script (the raw editor's text):
// the same script ManageSieve (RFC 5804) and JMAP's VacationResponse edit.
func (s *Server) serveSieve(w http.ResponseWriter, r *http.Request, sess *session) {
	sc, active, err := s.activeScript(r, sess)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": sc.Name, "content": sc.Content, "active": active})
}

// serveSaveSieve replaces the active script (or makes and activates
// webScript) after internal/sieve's parser accepted it; a syntax error is
// answered with its line and column, and nothing changes.
func (s *Server) serveSaveSieve(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct{ Content string }
	if !readJSON(r, &req) {
		writeError(w, http.StatusBadRequest, "bad request")
		return
	}
	s.putScript(w, r, sess, req.Content)
}

func (s *Server) putScript(w http.ResponseWriter, r *http.Request, sess *session, content string) {
	if _, err := sieve.Parse(content); err != nil {
		out := map[string]any{"error": err.Error()}
		var se *sieve.Error
		if errors.As(err, &se) {
			out["line"], out["column"] = se.Pos.Line, se.Pos.Col
		}
		writeJSON(w, http.StatusUnprocessableEntity, out)
		return
	}
	sc, active, err := s.activeScript(r, sess)
	if err == nil {
		err = s.opts.Store.PutSieveScript(r.Context(), sess.AccountID, sc.Name, content)
	}
	if err == nil && !active {
		err = s.opts.Store.ActivateSieveScript(r.Context(), sess.AccountID, sc.Name)
	}
	if err != nil {
		s.opts.Logger.Warn("webmail sieve save failed", "user", sess.acct.Address, "err", err)
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": sc.Name, "content": content, "active": true})
}

// Rule is one line of the simple rule editor: when a header field
// contains a text, move the message to a folder, mark it read, or
// discard it.
type Rule struct {
	Header   string `json:"header"`
	Contains string `json:"contains"`
	Action   string `json:"action"` // "move", "read" or "discard"
	Mailbox  string `json:"mailbox"`
}

var headerName = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// sieveQuote writes s as a Sieve quoted string (RFC 5228 §2.4.2: only
// backslash and double quote are escaped).
func sieveQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Sieve is the rule as Sieve text (RFC 5228 header test with :contains,
// RFC 5228 fileinto and discard, RFC 5232 addflag) and the extension it
// needs ("" for none).
func (ru Rule) Sieve() (text, ext string, err error) {
	if !headerName.MatchString(ru.Header) {
		return "", "", fmt.Errorf("%q is not a header field name", ru.Header)
	}
	if ru.Contains == "" || strings.ContainsAny(ru.Contains, "\r\n") {
		return "", "", fmt.Errorf("say what the %s field contains, on one line", ru.Header)
	}
	test := "if header :contains " + sieveQuote(ru.Header) + " " + sieveQuote(ru.Contains)
	switch ru.Action {
	case "move":
		if ru.Mailbox == "" || strings.ContainsAny(ru.Mailbox, "\r\n") {
			return "", "", errors.New("choose the folder")
		}
		return test + " { fileinto " + sieveQuote(ru.Mailbox) + "; stop; }\n", "fileinto", nil
	case "read":
		// The implicit keep stores the message with the flags set so far
		// (RFC 5232 §3).
		return test + ` { addflag "\\Seen"; }` + "\n", "imap4flags", nil
	case "discard":
		return test + " { discard; stop; }\n", "", nil
	}
	return "", "", fmt.Errorf("%q is not an action (move, read, discard)", ru.Action)
}

// addRule puts a rule at the end of script, with a require of its
// extension at the top (RFC 5228 §3.2: require commands come first; a
// repeated one is harmless).
func addRule(script string, ru Rule) (string, error) {
	text, ext, err := ru.Sieve()
	if err != nil {
		return "", err
	}
	if script != "" && !strings.HasSuffix(script, "\n") {
		script += "\n"
	}
	script += text
	if ext != "" && !strings.Contains(script, `require "`+ext+`";`) {
		script = `require "` + ext + `";` + "\n" + script
	}
	return script, nil
}

// serveAddRule adds a rule of the simple editor to the active script (or
// to a new one made of the default rule, so spam still goes to Junk).
func (s *Server) serveAddRule(w http.ResponseWriter, r *http.Request, sess *session) {
	var ru Rule
	if !readJSON(r, &ru) {
		writeError(w, http.StatusBadRequest, "bad request")
		return
	}
	sc, active, err := s.activeScript(r, sess)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "try again later")
		return
	}
	if !active {
		sc.Content = sieve.DefaultScript
	}
	content, err := addRule(sc.Content, ru)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.putScript(w, r, sess, content)
}
