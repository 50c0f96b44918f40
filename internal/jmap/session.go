package jmap

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"pochta/internal/auth"
	"pochta/internal/store"
)

// Login checks a user's password (auth.ProtoAuthenticator).
type Login interface {
	Login(ctx context.Context, username, password string, remote netip.Addr) (store.Account, error)
}

// Trainer is the spam filter (*spam.Filter) as Email moves teach it
// (spam.MoveTeaches).
type Trainer interface {
	Train(ctx context.Context, accountID int64, content io.Reader, spam, undo bool) error
}

// Limits are the core capability limits (RFC 8620 §2), all enforced.
type Limits struct {
	MaxSizeUpload         int64
	MaxConcurrentUpload   int
	MaxSizeRequest        int64
	MaxConcurrentRequests int
	MaxCallsInRequest     int
	MaxObjectsInGet       int
	MaxObjectsInSet       int
}

// DefaultLimits are used for every zero field of Options.Limits.
var DefaultLimits = Limits{
	MaxSizeUpload:         50 << 20,
	MaxConcurrentUpload:   4,
	MaxSizeRequest:        10 << 20,
	MaxConcurrentRequests: 4,
	MaxCallsInRequest:     64,
	MaxObjectsInGet:       1000,
	MaxObjectsInSet:       1000,
}

// Store is what JMAP reads and changes: the mailboxes and messages IMAP
// sees, with their JMAP identities.
type Store interface {
	store.Mailstore
	store.Emails
}

// Options configure a Server.
type Options struct {
	Store Store
	// DateIndex, when set, answers Email/query of one mailbox by date
	// without reading the whole mailbox.
	DateIndex store.DateIndex
	Login     Login
	// PlaintextAllowed says whether a password may come over a connection
	// from remote with or without TLS (auth.Authenticator.PlaintextAllowed).
	PlaintextAllowed func(remote net.Addr, tlsActive bool) bool
	// Local and Queue send what users submit (EmailSubmission/set); with
	// either nil there is no submission capability.
	Local Local
	Queue Queue
	// Uploads keeps uploaded blobs until they expire (required): in the
	// store, so that every node sharing it finds them after a restart.
	Uploads store.Uploads
	// Sieve, when set, backs VacationResponse with the account's active
	// Sieve script (the capability is offered only then).
	Sieve store.SieveStore
	// AppPasswords, when set, lets clients log in with a bearer token
	// made of the address and an app password (see bearerToken).
	AppPasswords store.AppPasswords
	// CORSOrigins are the origins allowed to call the API from a browser;
	// "*" allows any.
	CORSOrigins []string
	// Authenticated, when set, is asked first: it returns the account of
	// a request that a front end in the same process has already
	// authenticated (the webmail, by its session cookie and CSRF token).
	Authenticated func(r *http.Request) (store.Account, bool)
	// Trainer, when set, learns spam from Emails moved into and out of
	// Junk, as from IMAP moves.
	Trainer Trainer
	Limits  Limits
	Logger  *slog.Logger
	// Revoker ends the event streams of an account whose access is
	// revoked (push.go); nil: they last until the client goes.
	Revoker Revoker
}

// Server is the JMAP service; Register puts its endpoints on a mux.
type Server struct {
	opts     Options
	st       Store
	handlers map[string]handler
	// lastCleanup is when expired uploads were last removed (UnixNano).
	lastCleanup atomic.Int64

	mu       sync.Mutex
	inflight map[int64]int // running API requests per account
	uploadsN map[int64]int // running uploads per account
}

// New makes a Server.
func New(opts Options) *Server {
	l := &opts.Limits
	d := DefaultLimits
	setDefault(&l.MaxSizeUpload, d.MaxSizeUpload)
	setDefault(&l.MaxSizeRequest, d.MaxSizeRequest)
	setDefault(&l.MaxConcurrentUpload, d.MaxConcurrentUpload)
	setDefault(&l.MaxConcurrentRequests, d.MaxConcurrentRequests)
	setDefault(&l.MaxCallsInRequest, d.MaxCallsInRequest)
	setDefault(&l.MaxObjectsInGet, d.MaxObjectsInGet)
	setDefault(&l.MaxObjectsInSet, d.MaxObjectsInSet)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{opts: opts, st: opts.Store, inflight: map[int64]int{}, uploadsN: map[int64]int{}}
	s.handlers = s.methods()
	return s
}

func setDefault[T int | int64](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Register adds the JMAP endpoints to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/jmap", func(w http.ResponseWriter, r *http.Request) {
		// RFC 8620 §2.2: the well-known URL redirects to the session resource.
		http.Redirect(w, r, baseURL(r)+"/jmap/session", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/jmap/", s.cors(s.authed(s.route)))
}

// route dispatches an authenticated request under /jmap/.
func (s *Server) route(w http.ResponseWriter, r *http.Request, acct *account) {
	p := r.URL.Path
	switch {
	case p == "/jmap/session" && r.Method == http.MethodGet:
		s.serveSession(w, r, acct)
	case p == "/jmap/api" && r.Method == http.MethodPost:
		s.serveAPI(w, r, acct)
	case p == "/jmap/eventsource" && r.Method == http.MethodGet:
		s.serveEvents(w, r, acct)
	case strings.HasPrefix(p, "/jmap/upload/") && r.Method == http.MethodPost:
		s.serveUpload(w, r, acct)
	case strings.HasPrefix(p, "/jmap/download/") && r.Method == http.MethodGet:
		s.serveDownload(w, r, acct)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// account is the authenticated user of one HTTP request.
type account struct {
	store.Account
	id string // JMAP accountId
}

func accountID(id int64) string { return "a" + strconv.FormatInt(id, 10) }

// cors answers preflight requests and adds the CORS headers for allowed
// origins (RFC 8620 §1.6 expects browsers to reach the API).
func (s *Server) cors(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && (contains(s.opts.CORSOrigins, "*") || contains(s.opts.CORSOrigins, origin))
		if allowed {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Vary", "Origin")
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if r.Method == http.MethodOptions {
			if allowed {
				h := w.Header()
				h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Last-Event-ID")
				h.Set("Access-Control-Max-Age", "3600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next(w, r)
	}
}

// authed checks HTTP Basic credentials through the same login as every
// other protocol, with the same rule for passwords without TLS.
func (s *Server) authed(next func(http.ResponseWriter, *http.Request, *account)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Authenticated != nil {
			if acct, ok := s.opts.Authenticated(r); ok {
				next(w, r, &account{Account: acct, id: accountID(acct.ID)})
				return
			}
		}
		user, pass, ok := r.BasicAuth()
		bearer := false
		if !ok {
			user, pass, ok = bearerToken(r)
			bearer = ok && s.opts.AppPasswords != nil
			ok = bearer
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="pochta", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		remote := remoteAddr(r)
		if s.opts.PlaintextAllowed != nil && !s.opts.PlaintextAllowed(net.TCPAddrFromAddrPort(remote), r.TLS != nil) {
			http.Error(w, "use TLS to log in", http.StatusForbidden)
			return
		}
		acct, err := s.opts.Login.Login(r.Context(), user, pass, remote.Addr())
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="pochta", charset="UTF-8"`)
			http.Error(w, "authentication failed", http.StatusUnauthorized)
			return
		}
		if bearer && !s.isAppPassword(r.Context(), acct, pass) {
			// A bearer token must carry an app password, never the main one.
			w.Header().Set("WWW-Authenticate", `Bearer realm="pochta"`)
			http.Error(w, "authentication failed", http.StatusUnauthorized)
			return
		}
		next(w, r, &account{Account: acct, id: accountID(acct.ID)})
	}
}

// bearerToken reads "Authorization: Bearer T" where T is the base64 of
// "address:app-password": a credential a user can paste into a JMAP
// client that only speaks bearer tokens (RFC 6750).
func bearerToken(r *http.Request) (user, pass string, ok bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", "", false
	}
	tok := strings.TrimSpace(h[7:])
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(tok); err == nil {
			break
		}
	}
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	return user, pass, ok && user != "" && pass != ""
}

// isAppPassword reports whether pass is one of the account's app passwords.
func (s *Server) isAppPassword(ctx context.Context, acct store.Account, pass string) bool {
	hash := auth.AppPasswordHash(pass)
	if hash == "" {
		return false
	}
	_, err := s.opts.AppPasswords.AppPasswordByHash(ctx, acct.ID, hash)
	return err == nil
}

func remoteAddr(r *http.Request) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// baseURL is the scheme and host the client used to reach us, so every URL
// we give back works from where the client stands.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// serveSession answers the session resource (RFC 8620 §2).
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, acct *account) {
	l := s.opts.Limits
	base := baseURL(r)
	mailCap := map[string]any{
		"maxMailboxesPerEmail":       1,
		"maxMailboxDepth":            nil,
		"maxSizeMailboxName":         1000,
		"maxSizeAttachmentsPerEmail": l.MaxSizeUpload,
		"emailQuerySortOptions":      []string{"receivedAt", "size"},
		"mayCreateTopLevelMailbox":   true,
	}
	subCap := map[string]any{"maxDelayedSend": 0, "submissionExtensions": map[string]any{}}
	accountCaps := map[string]any{capMail: mailCap}
	if s.canSubmit() {
		accountCaps[capSubmission] = subCap
	}
	if s.opts.Sieve != nil {
		accountCaps[capVacation] = map[string]any{}
	}
	caps := map[string]any{
		capCore: map[string]any{
			"maxSizeUpload":         l.MaxSizeUpload,
			"maxConcurrentUpload":   l.MaxConcurrentUpload,
			"maxSizeRequest":        l.MaxSizeRequest,
			"maxConcurrentRequests": l.MaxConcurrentRequests,
			"maxCallsInRequest":     l.MaxCallsInRequest,
			"maxObjectsInGet":       l.MaxObjectsInGet,
			"maxObjectsInSet":       l.MaxObjectsInSet,
			"collationAlgorithms":   []string{"i;ascii-casemap"},
		},
		capMail: map[string]any{},
	}
	if s.canSubmit() {
		caps[capSubmission] = map[string]any{}
	}
	if s.opts.Sieve != nil {
		caps[capVacation] = map[string]any{}
	}
	primary := map[string]string{capMail: acct.id}
	if s.canSubmit() {
		primary[capSubmission] = acct.id
	}
	if s.opts.Sieve != nil {
		primary[capVacation] = acct.id
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"capabilities": caps,
		"accounts": map[string]any{acct.id: map[string]any{
			"name": acct.Address, "isPersonal": true, "isReadOnly": false,
			"accountCapabilities": accountCaps,
		}},
		"primaryAccounts": primary,
		"username":        acct.Address,
		"apiUrl":          base + "/jmap/api",
		"downloadUrl":     base + "/jmap/download/{accountId}/{blobId}/{name}?type={type}",
		"uploadUrl":       base + "/jmap/upload/{accountId}/",
		"eventSourceUrl":  base + "/jmap/eventsource?types={types}&closeafter={closeafter}&ping={ping}",
		"state":           s.sessionState(acct),
	})
}

// sessionState changes when the session resource would change: here only
// with the account itself.
func (s *Server) sessionState(acct *account) string {
	return "s" + strconv.FormatInt(acct.ID, 36)
}

// serveAPI runs one API request (RFC 8620 §3).
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, acct *account) {
	l := s.opts.Limits
	if !s.enter(s.inflight, acct.ID, l.MaxConcurrentRequests) {
		writeProblem(w, &Problem{Type: "urn:ietf:params:jmap:error:limit", Status: 400, Limit: "maxConcurrentRequests", Detail: "too many concurrent requests"})
		return
	}
	defer s.leave(s.inflight, acct.ID)
	body, err := io.ReadAll(io.LimitReader(r.Body, l.MaxSizeRequest+1))
	if err != nil {
		writeProblem(w, &Problem{Type: "urn:ietf:params:jmap:error:notJSON", Status: 400, Detail: err.Error()})
		return
	}
	if int64(len(body)) > l.MaxSizeRequest {
		writeProblem(w, &Problem{Type: "urn:ietf:params:jmap:error:limit", Status: 400, Limit: "maxSizeRequest", Detail: "request too large"})
		return
	}
	req, p := ParseRequest(body)
	if p != nil {
		writeProblem(w, p)
		return
	}
	for _, u := range req.Using {
		if u != capCore && u != capMail && !(u == capSubmission && s.canSubmit()) && !(u == capVacation && s.opts.Sieve != nil) {
			writeProblem(w, &Problem{Type: "urn:ietf:params:jmap:error:unknownCapability", Status: 400, Detail: "unknown capability " + u})
			return
		}
	}
	if len(req.MethodCalls) > l.MaxCallsInRequest {
		writeProblem(w, &Problem{Type: "urn:ietf:params:jmap:error:limit", Status: 400, Limit: "maxCallsInRequest", Detail: "too many method calls"})
		return
	}
	writeJSON(w, http.StatusOK, s.run(r.Context(), acct, req))
}

// enter counts one more running request of an account, refusing above max.
func (s *Server) enter(m map[int64]int, id int64, max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m[id] >= max {
		return false
	}
	m[id]++
	return true
}

func (s *Server) leave(m map[int64]int, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m[id]--; m[id] <= 0 {
		delete(m, id)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// storeError maps a store error to a method error.
func storeError(err error) *methodError {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &methodError{Type: "notFound"}
	case errors.Is(err, store.ErrOverQuota):
		return &methodError{Type: "overQuota"}
	}
	return errServerFail(err)
}
