// Package app is pochta's composition root: it builds every component from
// the configuration, wires them together explicitly, opens the listeners
// and runs the servers. Nothing else in pochta constructs components, so
// this file is the map of who talks to whom:
//
//	smtpserver (25, 587, 465) ─► mda ─► store          (local recipients)
//	                          └► queue ─► mda           (local recipients)
//	                                   └► smtpclient ─► dns   (remote, by MX)
//	pop3server, imapserver ─► store;  every login ─► auth ─► store
//	smtpserver (25) ─► checks ─► dns   (SPF, DKIM, DMARC, iprev, DNSBL)
//	auth, mda ─► directory (the account sources: store, LDAP) ─► store
//	managesieve ─► store (Sieve scripts), which mda runs on every delivery
//	jmap (on http) ─► store; its submissions ─► mda / queue like SMTP's
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"pochta/internal/acmecert"
	"pochta/internal/admin"
	"pochta/internal/auth"
	"pochta/internal/checks"
	"pochta/internal/config"
	"pochta/internal/dkim"
	"pochta/internal/dns"
	"pochta/internal/envelope"
	"pochta/internal/imapserver"
	"pochta/internal/jmap"
	"pochta/internal/manage"
	"pochta/internal/managesieve"
	"pochta/internal/mda"
	"pochta/internal/metrics"
	"pochta/internal/mtasts"
	"pochta/internal/pop3server"
	"pochta/internal/queue"
	"pochta/internal/revocation"
	"pochta/internal/smtpclient"
	"pochta/internal/smtpserver"
	"pochta/internal/spam"
	"pochta/internal/srs"
	"pochta/internal/store"
	"pochta/internal/store/postgres"
	"pochta/internal/store/sqlite"
	"pochta/internal/tlscert"
	"pochta/internal/tlsrpt"
	"pochta/internal/web"
)

// server is what every protocol server looks like to the app.
type server interface {
	Serve(l net.Listener) error
	Shutdown(ctx context.Context) error
}

// App is a running pochta.
type App struct {
	cfg   *config.Config
	log   *slog.Logger
	Store store.Backend
	Queue *queue.Queue
	Auth  *auth.Authenticator
	MDA   *mda.Deliverer
	// Spam judges inbound mail and learns from IMAP ([spam]).
	Spam *spam.Filter

	closeSources func() // the account sources' connections
	// ACME obtains and renews the certificate ([tls] acme; nil = off).
	ACME *acmecert.Manager
	// TLSReports counts outbound TLS sessions for RFC 8460 reports
	// ([delivery] tls_reports; nil = off).
	TLSReports     *tlsrpt.Recorder
	outbound       *signingQueue
	nodeID         string       // random, names this process's TLS-RPT counts in the store
	flushes        atomic.Int64 // TLS-RPT count flushes
	resolver       *dns.Resolver
	stopBackground context.CancelFunc // ACME renewal, daily TLS reports

	// tlsReportHTTP posts https: TLS reports (nil = system roots; tests
	// set a test CA); tlsReportRetries are the waits before each new POST
	// of one that failed (nil = minutes to hours over a day).
	tlsReportHTTP    *http.Client
	tlsReportRetries []time.Duration

	services []service
	wg       sync.WaitGroup
	stopping atomic.Bool // Serve's return during Shutdown is expected

	// Metrics counts what the servers do (/metrics, the web admin).
	Metrics           *metrics.Metrics
	started           atomic.Bool   // every listener is open (/readyz)
	closeQueueManager func()        // the metrics' queue reader, once opened
	admin             *admin.Server // the web admin at /admin/ on the http listeners
	// Revocations ends the IMAP, POP3, ManageSieve and JMAP push sessions
	// of accounts whose access was revoked (internal/revocation).
	Revocations *revocation.Watcher
}

// revocationInterval is how often the store's account events are read.
const revocationInterval = time.Second

type service struct {
	name      string
	srv       server
	addrs     []string
	listeners []net.Listener
}

// New builds every component. It opens the store and the queue but does
// not listen yet.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, Store: st, Metrics: metrics.New(), closeQueueManager: func() {}}
	// Sessions of an account disabled or with a new password end on
	// every node: the store's account events, read every second.
	a.Revocations = revocation.New(st, revocationInterval, log.With("service", "revocation"))
	timed := timedStore{Backend: st, m: a.Metrics}
	fail := func(err error) (*App, error) {
		st.Close()
		return nil, err
	}
	if err := ImportLocalState(ctx, cfg, st, log); err != nil {
		return fail(err)
	}

	tlsConfig, err := tlscert.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.Hostname, cfg.DataDir)
	if err != nil {
		return fail(err)
	}
	if cfg.TLS.ACME {
		if a.ACME, err = newACME(cfg, st, log); err != nil {
			return fail(err)
		}
		tlsConfig = a.ACME.TLSConfig(tlsConfig)
	}
	sources, closeSources, err := newSources(cfg, st, log)
	if err != nil {
		return fail(err)
	}
	a.closeSources = closeSources
	a.Auth = auth.New(st, auth.Options{
		PlaintextOnLoopback: cfg.Auth.PlaintextOnLoopback,
		FailureDelay:        cfg.Auth.FailureDelay.Duration,
		MaxFailureDelay:     cfg.Auth.MaxFailureDelay.Duration,
		BeforeSMTPWindow:    cfg.Submission.BeforeSMTPWindow.Duration,
		CacheTTL:            cfg.Auth.CacheTTL.Duration,
		CacheSize:           cfg.Auth.CacheSize,
		MaxConcurrentHashes: cfg.Auth.MaxConcurrentHashes,
		MaxFailuresPerHour:  cfg.Limits.WithDefaults().AuthFailuresPerHourPerIP,
		FailureExempt:       cfg.Limits.PerIPExempt(),

		MaxAccountFailuresPerHour: cfg.Limits.WithDefaults().AuthFailuresPerHourPerUser,
		MaxLoginsPerMinute:        cfg.Limits.WithDefaults().LoginsPerMinutePerAccount,
		AppPasswords:              st,
		SCRAM:                     st,
		Sources:                   sources,
		Flags:                     st, // disabled accounts log in nowhere
		OnLogin: func(proto, result string) {
			if proto == "" {
				proto = "other"
			}
			a.Metrics.Login(proto, result)
		},
	})
	resolver := dns.New(cfg.DNS.Servers, cfg.DNS.Timeout.Duration)
	a.resolver = resolver
	if cfg.Delivery.DANE && len(cfg.DNS.Servers) == 0 {
		log.Info("delivery.dane is on but dns.servers is empty: DANE needs a validating resolver, TLSA records are not used")
	}
	var sts smtpclient.PolicyFinder
	if cfg.Delivery.MTASTS {
		sts = mtasts.NewFinder(mtasts.Options{Resolver: resolver, Logger: log.With("component", "mtasts"),
			State: st})
	}
	var onSession func(tlsrpt.Session)
	if cfg.Delivery.TLSReports {
		a.TLSReports = tlsrpt.NewRecorder(nil)
		a.nodeID = rand.Text()[:12]
		onSession = a.TLSReports.Add
	}
	client := smtpclient.New(smtpclient.Options{
		OnTLSSession:   onSession,
		MTASTS:         sts,
		DANE:           cfg.Delivery.DANE && len(cfg.DNS.Servers) > 0,
		Hostname:       cfg.Hostname,
		Resolver:       resolver,
		Port:           cfg.Delivery.RemotePort,
		ConnectTimeout: cfg.Delivery.ConnectTimeout.Duration,
		CommandTimeout: cfg.Limits.CommandTimeout.Duration,
		RequireTLS:     cfg.Delivery.RequireTLS,
		VerifyTLS:      cfg.Delivery.VerifyTLS,
		LocalAddr:      parseAddr(cfg.Delivery.LocalAddr),
		Smarthost:      cfg.Relay.Smarthost,
		Transports:     cfg.Relay.Transports,
		Logger:         log.With("component", "smtpclient"),
		ReuseLimit:     100, // messages per connection; idle ones close after 2 s
	})
	a.MDA = mda.New(st, timed, nil, log.With("component", "mda"))
	a.MDA.SetAccounts(sources)
	// DKIM: one signer (reloaded with the keys) for everything that leaves
	// as our mail: submitted mail, the queue's DSNs, vacation replies,
	// TLS reports; loops end at [limits] max_hops wherever mail is passed on.
	signer, err := dkim.LoadStateSigner(ctx, st)
	if err != nil {
		return fail(err)
	}
	outbound := &signingQueue{}
	outbound.signer.Store(signer)
	a.outbound = outbound
	a.MDA.SetSigner(outbound)
	a.MDA.SetMaxHops(cfg.Limits.MaxHops)
	qdir, qpg := filepath.Join(cfg.DataDir, "queue"), ""
	if cfg.Store.Backend == "postgres" { // the queue is shared by every node
		qdir, qpg = "", cfg.Store.PostgresURL
	}
	q, err := queue.Open(queue.Options{
		Dir:          qdir,
		PostgresURL:  qpg,
		Hostname:     cfg.Hostname,
		Local:        countingLocal{Local: a.MDA, m: a.Metrics},
		Remote:       countingRemote{Remote: client, m: a.Metrics},
		Expire:       cfg.Queue.Expire.Duration,
		FirstRetry:   cfg.Queue.FirstRetry.Duration,
		MaxRetry:     cfg.Queue.MaxRetry.Duration,
		Lease:        cfg.Queue.Lease.Duration,
		DelayWarning: cfg.Queue.DelayWarning.Duration,
		Workers:      cfg.Queue.Workers,
		PerDomain:    cfg.Queue.PerDomain,
		MaxHops:      cfg.Limits.MaxHops,
		Signer:       outbound,
		Logger:       log.With("component", "queue"),
	})
	if err != nil {
		return fail(err)
	}
	a.Queue = q
	outbound.q = q
	a.MDA.SetForwarder(q)
	if cfg.SRS.Enabled {
		var secrets [][]byte
		if cfg.SRS.SecretFile != "" {
			secrets, err = srs.LoadSecrets(cfg.SRS.SecretFile)
		} else {
			secrets, err = srs.LoadStateSecrets(ctx, st) // shared by every node
		}
		if err != nil {
			return fail(err)
		}
		rw, err := srs.New(secrets, cfg.SRS.MaxAgeDays, nil)
		if err != nil {
			return fail(err)
		}
		a.MDA.SetSRS(rw)
	}

	rates := smtpserver.NewRates(cfg.Limits, nil) // shared by the SMTP services
	checker := checks.New(checks.Options{
		AuthservID: cfg.Hostname,
		SPF:        checks.Mode(cfg.Checks.SPF),
		DKIM:       checks.Mode(cfg.Checks.DKIM),
		DMARC:      checks.Mode(cfg.Checks.DMARC),
		IPRev:      checks.Mode(cfg.Checks.IPRev),
		DNSBL:      cfg.Checks.DNSBL,
		Resolver:   resolver,
		Logger:     log.With("component", "checks"),
	})
	a.Spam = spam.New(spam.Options{
		JunkScore:   cfg.Spam.JunkScore,
		RejectScore: cfg.Spam.RejectScore,
		RspamdURL:   cfg.Spam.RspamdURL,
		Store:       st,
		Recipients:  a.MDA,
		Logger:      log.With("component", "spam"),
	})

	smtpOpts := func(mode smtpserver.Mode, implicit bool, name string) smtpserver.Options {
		var judge smtpserver.Checks
		if mode == smtpserver.ModeInbound {
			judge = checker
		}
		return smtpserver.Options{
			Checks:          judge,
			Hostname:        cfg.Hostname,
			Mode:            mode,
			TLSConfig:       tlsConfig,
			ImplicitTLS:     implicit,
			Local:           a.MDA,
			Queue:           outbound,
			Auth:            a.Auth.For(auth.ProtoSMTP),
			TrustedNetworks: cfg.TrustedPrefixes(),
			BeforeSMTP:      cfg.Submission.BeforeSMTP,
			EnforceSender:   cfg.Submission.EnforceSender,
			Limits:          cfg.Limits,
			Rates:           rates,
			Logger:          log.With("service", name),
			Spam:            countingSpam{SpamFilter: a.Spam, m: a.Metrics}, // used by the inbound mode only

			OnTransaction:       func(result string) { a.Metrics.SMTPTransaction(name, result) },
			OnRecipientRejected: func(r string) { a.Metrics.RecipientRejected(name, r) },
		}
	}
	a.add("smtp", smtpserver.New(smtpOpts(smtpserver.ModeInbound, false, "smtp")), cfg.Listen.SMTP)
	a.add("submission", smtpserver.New(smtpOpts(smtpserver.ModeSubmission, false, "submission")), cfg.Listen.Submission)
	a.add("submissions", smtpserver.New(smtpOpts(smtpserver.ModeSubmission, true, "submissions")), cfg.Listen.Submissions)

	pop3Opts := func(implicit bool, name string) pop3server.Options {
		return pop3server.Options{
			Hostname:            cfg.Hostname,
			TLSConfig:           tlsConfig,
			ImplicitTLS:         implicit,
			Store:               st,
			Auth:                a.Auth.For(auth.ProtoPOP3),
			IdleTimeout:         0, // RFC 1939 §3: at least 10 minutes, the package default
			MaxConnections:      cfg.Limits.MaxConnections,
			MaxConnectionsPerIP: cfg.Limits.MaxConnectionsPerIP,
			PerIPExempt:         cfg.Limits.PerIPExempt(),
			MaxErrors:           cfg.Limits.MaxErrors,
			Logger:              log.With("service", name),
			Revoker:             a.Revocations,
		}
	}
	a.add("pop3", pop3server.New(pop3Opts(false, "pop3")), cfg.Listen.POP3)
	a.add("pop3s", pop3server.New(pop3Opts(true, "pop3s")), cfg.Listen.POP3S)

	imapOpts := func(implicit bool, name string) imapserver.Options {
		return imapserver.Options{
			Hostname:    cfg.Hostname,
			TLSConfig:   tlsConfig,
			ImplicitTLS: implicit,
			Store:       st,
			Auth:        a.Auth.For(auth.ProtoIMAP),
			Limits:      cfg.Limits,
			Logger:      log.With("service", name),
			Trainer:     a.Spam,
			Revoker:     a.Revocations,
		}
	}
	a.add("imap", imapserver.New(imapOpts(false, "imap")), cfg.Listen.IMAP)
	a.add("imaps", imapserver.New(imapOpts(true, "imaps")), cfg.Listen.IMAPS)
	// JMAP on the http and https listeners: the same store, logins and submission
	// path as IMAP and SMTP submission.
	// The webmail (a JMAP client) logs users in through the same auth and
	// hands JMAP the requests its sessions authenticated.
	// JMAP uploads live in the store now; an older version's folder of
	// them held nothing that outlived its process.
	os.RemoveAll(filepath.Join(cfg.DataDir, "jmap-uploads"))
	var webmail *web.Server
	jmapServer := jmap.New(jmap.Options{
		Authenticated: func(r *http.Request) (store.Account, bool) {
			if webmail == nil {
				return store.Account{}, false
			}
			return webmail.Authenticated(r)
		},
		Store:            st,
		DateIndex:        st,
		Login:            a.Auth.For(auth.ProtoJMAP),
		PlaintextAllowed: a.Auth.PlaintextAllowed,
		AppPasswords:     st,
		Sieve:            st,
		Uploads:          st,
		Local:            a.MDA,
		Queue:            outbound,
		CORSOrigins:      cfg.JMAP.CORSOrigins,
		Trainer:          a.Spam,
		Revoker:          a.Revocations,
		Logger:           log.With("service", "jmap"),
	})
	if cfg.Webmail.Enabled {
		webmail = web.New(web.Options{
			Store:            st,
			Login:            a.Auth.For(auth.ProtoWebmail), // the real password only
			Blobs:            jmapServer,
			PlaintextAllowed: a.Auth.PlaintextAllowed,
			HTTPSPort:        firstPort(cfg.Listen.HTTPS),
			SessionTTL:       cfg.Webmail.SessionTTL.Duration,
			Issuer:           cfg.Hostname,
			AuthservID:       cfg.Hostname,
			Logger:           log.With("service", "webmail"),
		})
	}
	a.watchQueue()
	if ix, ok := a.Store.(interface{ IndexBacklog() int64 }); ok {
		a.Metrics.WatchIndex(ix.IndexBacklog)
	}
	a.admin, err = admin.New(admin.Options{
		Manager:          a.Manager(),
		Login:            a.Auth.For(auth.ProtoAdmin),
		IsAdmin:          a.Auth.IsAdmin,
		PlaintextAllowed: a.Auth.PlaintextAllowed,
		Resolver:         resolver,
		Metrics:          a.Metrics,
		KickQueue:        q.Rescan,
		Logger:           log.With("service", "admin"),
	})
	if err != nil {
		return fail(err)
	}
	a.add("metrics", newMetricsServer(a), cfg.Listen.Metrics)
	a.add("http", newHTTPServer(a, cfg, jmapServer, webmail), cfg.Listen.HTTP)
	a.add("https", newHTTPSServer(a, cfg, tlsConfig, jmapServer, webmail), cfg.Listen.HTTPS)

	// Sieve: the MDA files each account's mail by its active script;
	// ManageSieve lets users manage those scripts.
	a.MDA.SetSieve(st)
	a.add("managesieve", managesieve.New(managesieve.Options{
		Hostname:            cfg.Hostname,
		TLSConfig:           tlsConfig,
		Store:               st,
		Auth:                a.Auth.For(auth.ProtoManageSieve),
		MaxConnections:      cfg.Limits.MaxConnections,
		MaxConnectionsPerIP: cfg.Limits.MaxConnectionsPerIP,
		PerIPExempt:         cfg.Limits.PerIPExempt(),
		MaxErrors:           cfg.Limits.MaxErrors,
		Logger:              log.With("service", "managesieve"),
		Revoker:             a.Revocations,
	}), cfg.Listen.ManageSieve)
	return a, nil
}

// OpenStore opens the configured store ([store] backend; the CLI uses it
// too): SQLite in data_dir, or PostgreSQL at store.postgres_url, which
// keeps no mail state on this machine.
func OpenStore(ctx context.Context, cfg *config.Config) (store.Backend, error) {
	var st store.Backend
	var err error
	switch cfg.Store.Backend {
	case "postgres":
		st, err = postgres.Open(ctx, cfg.Store.PostgresURL)
	default:
		st, err = sqlite.Open(ctx, filepath.Join(cfg.DataDir, "store"))
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return st, nil
}

func (a *App) add(name string, srv server, addrs []string) {
	if len(addrs) == 0 {
		return
	}
	a.services = append(a.services, service{name: name, srv: srv, addrs: addrs})
}

// Start listens on every configured address and serves. It fails (and
// closes what it opened) if any address cannot be bound.
func (a *App) Start() error {
	for i := range a.services {
		s := &a.services[i]
		for _, addr := range s.addrs {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				a.closeListeners()
				return fmt.Errorf("listen.%s: %w", s.name, err)
			}
			s.listeners = append(s.listeners, a.Metrics.Listener(s.name, l))
		}
	}
	a.Queue.Start()
	ctx, cancel := context.WithCancel(context.Background())
	a.stopBackground = cancel
	if a.ACME != nil {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.ACME.Run(ctx) }()
	}
	if a.TLSReports != nil {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.dailyTLSReports(ctx) }()
	}
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.reloadKeysEvery(ctx, keysReload) }()
	if err := a.Revocations.Skip(ctx); err != nil {
		a.log.Warn("reading the account events failed; older ones may end new sessions once", "err", err)
	}
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.Revocations.Run(ctx) }()
	for _, s := range a.services {
		for _, l := range s.listeners {
			a.wg.Add(1)
			go func(s service, l net.Listener) {
				defer a.wg.Done()
				if err := s.srv.Serve(l); err != nil && !a.stopping.Load() && !isClosed(err) {
					a.log.Error("serve failed", "service", s.name, "addr", l.Addr().String(), "err", err)
				}
			}(s, l)
			a.log.Info("listening", "service", s.name, "addr", l.Addr().String())
			if (s.name == "http" || s.name == "https") && a.cfg.Webmail.Enabled {
				a.log.Info("webmail", "url", s.name+"://"+l.Addr().String()+"/")
			}
		}
	}
	a.started.Store(true)
	return nil
}

// Addrs returns the bound address of every listener by service name.
func (a *App) Addrs() map[string][]string {
	out := map[string][]string{}
	for _, s := range a.services {
		for _, l := range s.listeners {
			out[s.name] = append(out[s.name], l.Addr().String())
		}
	}
	return out
}

func (a *App) closeListeners() {
	for _, s := range a.services {
		for _, l := range s.listeners {
			l.Close()
		}
	}
}

// Shutdown stops accepting, lets in-flight sessions and deliveries finish
// until ctx ends, then closes the queue and the store.
func (a *App) Shutdown(ctx context.Context) error {
	a.stopping.Store(true)
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, s := range a.services {
		wg.Add(1)
		go func(s service) {
			defer wg.Done()
			if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
				mu.Unlock()
			}
		}(s)
	}
	wg.Wait()
	if a.stopBackground != nil {
		a.stopBackground()
	}
	a.wg.Wait()
	if err := a.Queue.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("queue: %w", err))
	}
	if a.TLSReports != nil { // the sessions counted survive the restart
		a.flushTLSReports(context.WithoutCancel(ctx))
	}
	a.closeSources()
	a.closeQueueManager()
	if err := a.Store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: %w", err))
	}
	return errors.Join(errs...)
}

// signingQueue DKIM-signs mail submitted by authenticated users before it
// enters the queue, so it is signed exactly once whatever the retries; its
// Sign signs the mail the server writes itself (wired into the queue and
// the MDA), with the same keys.
type signingQueue struct {
	q      *queue.Queue
	signer atomic.Pointer[dkim.Signer] // replaced by ReloadKeys
}

func (s *signingQueue) Enqueue(ctx context.Context, env envelope.Envelope, content []byte) (string, error) {
	if env.Authenticated != "" && env.From != "" {
		signed, err := s.Sign("", content) // the From header's domain (DMARC alignment)
		if err != nil {
			return "", fmt.Errorf("dkim: %w", err)
		}
		content = signed
	}
	return s.q.Enqueue(ctx, env, content)
}

// Sign DKIM-signs with the keys in use now: the signer of the mail the
// server writes itself (the queue's DSNs, vacation replies, TLS reports).
func (s *signingQueue) Sign(domain string, content []byte) ([]byte, error) {
	return s.signer.Load().Sign(domain, content)
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed)
}

func parseAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s) // validated by config
	return a
}

// Manager performs the administrative actions (the CLI's, the web
// admin's) on this app's store and configuration.
func (a *App) Manager() *manage.Manager { return &manage.Manager{Store: a.Store, Config: a.cfg} }
