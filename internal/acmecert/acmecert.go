// Package acmecert obtains and renews the server's TLS certificate from
// an ACME CA (RFC 8555) with golang.org/x/crypto/acme: HTTP-01 answered
// on the http listener (RFC 8555 §8.3), TLS-ALPN-01 on every TLS listener
// (RFC 8737). The account key, the certificate key (kept across renewals,
// so a DANE "3 1 1" record stays valid) and the certificate live in a
// folder of the data directory. A failed renewal is logged and retried;
// the old certificate keeps serving.
package acmecert

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"

	"pochta/internal/store"
)

// Options configure a Manager.
type Options struct {
	// Directory is the ACME directory URL.
	Directory string
	// Email is the account contact ("" = none).
	Email string
	// RootCAs verify the ACME server (nil = system roots).
	RootCAs *x509.CertPool
	// RenewBefore renews when less than this remains of the certificate.
	RenewBefore time.Duration
	// Names returns the names the certificate must cover.
	Names func(ctx context.Context) []string
	// Dir keeps account.key, cert.key and cert.pem when State is nil.
	Dir string
	// State, when set, keeps them instead (as "acme/account.key" …) with
	// the answers to pending HTTP-01 challenges, so that every node of a
	// store shares one account, one certificate and its renewals.
	State store.ServerState
	// CheckInterval is how often renewal and the names are checked
	// (default 10m: a domain added at runtime gets its names within it).
	// A failed renewal is retried after half of it, then after twice as
	// long each time, up to 6h (an ACME CA limits failed validations).
	CheckInterval time.Duration
	// FailedNameRetry is how long a name whose validation failed is left
	// out of the certificate before it is tried again (default 24h); the
	// first name (the hostname) is never left out.
	FailedNameRetry time.Duration
	// Now is the clock of FailedNameRetry (nil = time.Now).
	Now func() time.Time
	// NoHTTP01 skips HTTP-01 (no http listener): TLS-ALPN-01 only.
	NoHTTP01 bool
	// Logger (nil = discard).
	Logger *slog.Logger
}

// Manager holds the current certificate and renews it.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	cert   *tls.Certificate // current; nil before the first one
	files  cache
	http01 map[string]string
	alpn   map[string]*tls.Certificate
	failed map[string]time.Time // names left out, and when they failed
}

// New returns a Manager with the certificate cached in Dir, if any.
func New(opts Options) (*Manager, error) {
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = 10 * time.Minute
	}
	if opts.FailedNameRetry <= 0 {
		opts.FailedNameRetry = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var files cache = dirCache(opts.Dir)
	if opts.State != nil {
		files = stateCache{opts.State}
	} else if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, log: log, files: files, http01: map[string]string{}, alpn: map[string]*tls.Certificate{}, failed: map[string]time.Time{}}
	m.reload(context.Background())
	return m, nil
}

// reload makes the kept certificate current when it is newer than the
// current one: at start, and before each renewal check, so that a
// certificate another node of the store obtained is served here too.
func (m *Manager) reload(ctx context.Context) {
	certPEM, err := m.files.get(ctx, "cert.pem")
	if err != nil {
		return
	}
	keyPEM, err := m.files.get(ctx, "cert.key")
	if err != nil {
		return
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		m.log.Warn("acme: kept certificate unusable", "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cert == nil || m.cert.Leaf == nil || c.Leaf.NotAfter.After(m.cert.Leaf.NotAfter) {
		m.cert = &c
	}
}

// Current returns the certificate being served (nil before the first).
func (m *Manager) Current() *tls.Certificate {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cert
}

// Run obtains a certificate when none is valid or renewal is due, then
// checks again every CheckInterval until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	backoff := m.opts.CheckInterval / 2
	for {
		wait := m.opts.CheckInterval
		if m.due() {
			if err := m.renewClaimed(ctx); errors.Is(err, errClaimed) {
				m.log.Info("acme: another node of the store is renewing; checking again soon")
				wait = m.opts.CheckInterval / 10
			} else if err != nil {
				if ctx.Err() != nil {
					return
				}
				wait = backoff
				backoff = min(2*backoff, 6*time.Hour)
				m.log.Error("acme: obtaining the certificate failed; the current one keeps serving", "err", err, "retry_in", wait)
			} else {
				backoff = m.opts.CheckInterval / 2
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// renewClaimed renews unless another node of the store is renewing (then
// it fails with errClaimed: the check comes again soon).
func (m *Manager) renewClaimed(ctx context.Context) error {
	if !m.claim(ctx) {
		return errClaimed
	}
	defer m.unclaim(ctx)
	return m.Renew(ctx)
}

// due reports whether there is no certificate, it lacks a name (not
// left out after a failure), or less than RenewBefore remains.
func (m *Manager) due() bool {
	m.reload(context.Background())
	c := m.Current()
	if c == nil || c.Leaf == nil {
		return true
	}
	if time.Until(c.Leaf.NotAfter) < m.opts.RenewBefore {
		return true
	}
	for _, n := range m.names(context.Background()) {
		if c.Leaf.VerifyHostname(n) != nil {
			return true
		}
	}
	return false
}

// Renew obtains a new certificate now, for the names that validate: a
// name whose validation fails (its DNS points elsewhere) is left out for
// FailedNameRetry and the order is placed again without it, so it does
// not block the others; the first name (the hostname) must validate.
func (m *Manager) Renew(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	names := m.names(ctx)
	if len(names) == 0 {
		return errors.New("acme: no names")
	}
	for {
		err := m.obtain(ctx, names)
		var nf *namesFailed
		if !errors.As(err, &nf) || slices.Contains(nf.names, names[0]) {
			return err
		}
		m.mu.Lock()
		for _, n := range nf.names {
			m.failed[n] = m.opts.Now()
		}
		m.mu.Unlock()
		m.log.Warn("acme: names left out of the certificate, their validation failed", "names", strings.Join(nf.names, " "), "err", nf.err, "retry_after", m.opts.FailedNameRetry)
		names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(nf.names, n) })
	}
}

// names are Options.Names less those left out after a failure within
// FailedNameRetry (never the first).
func (m *Manager) names(ctx context.Context) []string {
	names := m.opts.Names(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	for n, t := range m.failed {
		if m.opts.Now().Sub(t) >= m.opts.FailedNameRetry {
			delete(m.failed, n)
		}
	}
	for i := len(names) - 1; i > 0; i-- {
		if _, ok := m.failed[names[i]]; ok {
			names = slices.Delete(names, i, i+1)
		}
	}
	return names
}

// namesFailed: the authorizations of these names failed (err is the
// first failure); the order cannot be finalized with them.
type namesFailed struct {
	names []string
	err   error
}

func (e *namesFailed) Error() string {
	return fmt.Sprintf("acme: validation failed for %s: %v", strings.Join(e.names, " "), e.err)
}

func (e *namesFailed) Unwrap() error { return e.err }

// obtain orders, validates and installs one certificate for names.
func (m *Manager) obtain(ctx context.Context, names []string) error {
	accKey, err := m.key(ctx, "account.key")
	if err != nil {
		return err
	}
	certKey, err := m.key(ctx, "cert.key")
	if err != nil {
		return err
	}
	client := &acme.Client{Key: accKey, DirectoryURL: m.opts.Directory, UserAgent: "pochta"}
	if m.opts.RootCAs != nil {
		client.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: m.opts.RootCAs}}, Timeout: time.Minute}
	}
	acct := &acme.Account{}
	if m.opts.Email != "" {
		acct.Contact = []string{"mailto:" + m.opts.Email}
	}
	if _, err := client.Register(ctx, acct, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return fmt.Errorf("acme: registering: %w", err)
	}
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		return fmt.Errorf("acme: ordering: %w", err)
	}
	// Every authorization is tried, at once, so that all the names that
	// fail are known after one order.
	type result struct {
		name string
		err  error
	}
	results := make([]result, len(order.AuthzURLs))
	var wg sync.WaitGroup
	for i, u := range order.AuthzURLs {
		wg.Go(func() {
			name, err := m.authorize(ctx, client, u)
			results[i] = result{name, err}
		})
	}
	wg.Wait()
	failed := &namesFailed{}
	for _, r := range results {
		name, err := r.name, r.err
		if err != nil {
			if name == "" || ctx.Err() != nil { // not a validation: the CA or the network
				return err
			}
			failed.names = append(failed.names, name)
			if failed.err == nil {
				failed.err = err
			}
		}
	}
	if len(failed.names) > 0 {
		return failed
	}
	if order, err = client.WaitOrder(ctx, order.URI); err != nil {
		return fmt.Errorf("acme: order: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, certKey)
	if err != nil {
		return err
	}
	der, _, err := client.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if err != nil {
		return fmt.Errorf("acme: finalizing: %w", err)
	}
	return m.install(ctx, der, certKey)
}

// authorize answers one authorization: HTTP-01 when offered, else
// TLS-ALPN-01. name is the identifier once known: an error with a name
// is that name's validation failing.
func (m *Manager) authorize(ctx context.Context, client *acme.Client, url string) (name string, err error) {
	z, err := client.GetAuthorization(ctx, url)
	if err != nil {
		return "", fmt.Errorf("acme: authorization: %w", err)
	}
	if z.Status == acme.StatusValid {
		return z.Identifier.Value, nil
	}
	return z.Identifier.Value, m.validate(ctx, client, z)
}

// validate answers the challenge of one pending authorization.
func (m *Manager) validate(ctx context.Context, client *acme.Client, z *acme.Authorization) error {
	var chal *acme.Challenge
	types := []string{"http-01", "tls-alpn-01"}
	if m.opts.NoHTTP01 {
		types = types[1:]
	}
	for _, typ := range types {
		if i := slices.IndexFunc(z.Challenges, func(c *acme.Challenge) bool { return c.Type == typ }); i >= 0 {
			chal = z.Challenges[i]
			break
		}
	}
	if chal == nil {
		return fmt.Errorf("acme: no supported challenge for %s", z.Identifier.Value)
	}
	name := z.Identifier.Value
	switch chal.Type {
	case "http-01":
		resp, err := client.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return err
		}
		m.mu.Lock()
		m.http01[chal.Token] = resp
		m.mu.Unlock()
		defer func() { m.mu.Lock(); delete(m.http01, chal.Token); m.mu.Unlock() }()
		if m.opts.State != nil { // the CA may ask any node behind the name
			if err := m.opts.State.PutState(ctx, http01State+chal.Token, []byte(resp)); err != nil {
				return fmt.Errorf("acme: keeping the HTTP-01 answer: %w", err)
			}
			defer m.opts.State.DeleteState(context.WithoutCancel(ctx), http01State+chal.Token)
		}
	default:
		c, err := client.TLSALPN01ChallengeCert(chal.Token, name)
		if err != nil {
			return err
		}
		m.mu.Lock()
		m.alpn[name] = &c
		m.mu.Unlock()
		defer func() { m.mu.Lock(); delete(m.alpn, name); m.mu.Unlock() }()
	}
	if _, err := client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("acme: accepting %s for %s: %w", chal.Type, name, err)
	}
	if _, err := client.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("acme: %s for %s: %w", chal.Type, name, err)
	}
	return nil
}

// install saves the chain and makes it current.
func (m *Manager) install(ctx context.Context, der [][]byte, key crypto.Signer) error {
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return err
	}
	var pemData []byte
	for _, d := range der {
		pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	if err := m.files.put(ctx, "cert.pem", pemData); err != nil {
		return err
	}
	m.mu.Lock()
	m.cert = &tls.Certificate{Certificate: der, PrivateKey: key, Leaf: leaf}
	m.mu.Unlock()
	m.log.Info("acme: certificate installed", "names", strings.Join(leaf.DNSNames, " "), "not_after", leaf.NotAfter, "issuer", leaf.Issuer.CommonName)
	return nil
}

// key loads (or creates) an ECDSA P-256 key kept in the cache. Of
// nodes creating one at once, the first one stored is used by all.
func (m *Manager) key(ctx context.Context, name string) (crypto.Signer, error) {
	data, err := m.files.get(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		k, gerr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		der, gerr := x509.MarshalECPrivateKey(k)
		if gerr != nil {
			return nil, gerr
		}
		if err := m.files.add(ctx, name, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})); err != nil {
			return nil, err
		}
		data, err = m.files.get(ctx, name)
	}
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("acme: %s: not PEM", name)
	}
	return x509.ParseECPrivateKey(b.Bytes)
}

// TLSConfig wraps base: the current ACME certificate is served (base's
// own certificate until there is one), and a TLS-ALPN-01 validation
// (ALPN "acme-tls/1", RFC 8737 §3) gets its challenge certificate.
func (m *Manager) TLSConfig(base *tls.Config) *tls.Config {
	cfg := base.Clone()
	fallback := base.Certificates
	cfg.Certificates = nil
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c := m.Current(); c != nil {
			return c, nil
		}
		if len(fallback) > 0 {
			return &fallback[0], nil
		}
		return nil, errors.New("acme: no certificate yet")
	}
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if !slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
			return nil, nil
		}
		m.mu.Lock()
		c := m.alpn[strings.ToLower(hello.ServerName)]
		m.mu.Unlock()
		if c == nil {
			return nil, fmt.Errorf("acme: no TLS-ALPN-01 challenge for %q", hello.ServerName)
		}
		return &tls.Config{Certificates: []tls.Certificate{*c}, NextProtos: []string{acme.ALPNProto}, MinVersion: tls.VersionTLS12}, nil
	}
	return cfg
}

// HTTPHandler answers HTTP-01 challenges (RFC 8555 §8.3) under
// /.well-known/acme-challenge/ for any Host; it is mounted on the http
// listener.
func (m *Manager) HTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/")
		m.mu.Lock()
		resp, ok := m.http01[token]
		m.mu.Unlock()
		if !ok && m.opts.State != nil && isToken(token) {
			if b, err := m.opts.State.GetState(r.Context(), http01State+token); err == nil {
				resp, ok = string(b), true
			}
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(resp))
	})
}

// isToken reports whether s can be an ACME token: base64url, at least
// 128 bits (RFC 8555 §8.3); anything else is not looked up in the store.
func isToken(s string) bool {
	if len(s) < 22 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
