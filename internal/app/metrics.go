package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"pochta/internal/checks"
	"pochta/internal/envelope"
	"pochta/internal/metrics"
	"pochta/internal/queue"
	"pochta/internal/reply"
	"pochta/internal/smtpserver"
	"pochta/internal/spam"
	"pochta/internal/store"
)

// This file wires the metrics (internal/metrics) into the components:
// thin wrappers around the interfaces the components already take, so
// only the SMTP server and auth carry hooks of their own.

// countingRemote counts the queue's remote delivery attempts per recipient.
type countingRemote struct {
	queue.Remote
	m *metrics.Metrics
}

func (r countingRemote) Deliver(ctx context.Context, domain string, env envelope.Envelope, rcpts []envelope.Recipient, content []byte) []error {
	errs := r.Remote.Deliver(ctx, domain, env, rcpts, content)
	countAttempts(r.m, "remote", errs)
	return errs
}

// countingLocal counts the queue's local delivery attempts per recipient.
type countingLocal struct {
	queue.Local
	m *metrics.Metrics
}

func (l countingLocal) Deliver(ctx context.Context, env envelope.Envelope, content []byte) []error {
	errs := l.Local.Deliver(ctx, env, content)
	countAttempts(l.m, "local", errs)
	return errs
}

// countAttempts counts one result per recipient: delivered, deferred
// (4xx or an internal error, retried) or failed (5xx).
func countAttempts(m *metrics.Metrics, kind string, errs []error) {
	for _, err := range errs {
		result := "delivered"
		if err != nil {
			result = "deferred"
			if r, ok := reply.As(err); ok && !r.Temporary() {
				result = "failed"
			}
		}
		m.Delivery(kind, result)
	}
}

// countingSpam counts the spam filter's verdicts on inbound mail.
type countingSpam struct {
	smtpserver.SpamFilter
	m *metrics.Metrics
}

func (s countingSpam) Classify(ctx context.Context, env envelope.Envelope, content []byte, symbols []checks.Symbol) (spam.Verdict, error) {
	v, err := s.SpamFilter.Classify(ctx, env, content, symbols)
	if err == nil {
		s.m.SpamVerdict(v.Action.String())
	}
	return v, err
}

// timedStore measures the store's latency where mail is written (local
// delivery) and where its health is checked.
type timedStore struct {
	store.Backend
	m *metrics.Metrics
}

func (s timedStore) Deliver(ctx context.Context, content io.Reader, targets []store.Target) ([]store.Delivered, error) {
	start := time.Now()
	d, err := s.Backend.Deliver(ctx, content, targets)
	s.m.StoreOp("deliver", time.Since(start))
	return d, err
}

func (s timedStore) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.Backend.Ping(ctx)
	s.m.StoreOp("ping", time.Since(start))
	return err
}

// watchQueue reports the queue's size and oldest message on each scrape,
// read through the same manager as `pochta queue list`.
func (a *App) watchQueue() {
	var mu sync.Mutex
	var mgr queue.Manager
	a.Metrics.WatchQueue(func() (metrics.QueueStats, error) {
		mu.Lock()
		defer mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if mgr == nil {
			m, err := a.Manager().Queue(ctx)
			if err != nil {
				return metrics.QueueStats{}, err
			}
			mgr = m
			a.closeQueueManager = m.Close
		}
		items, err := mgr.List(ctx)
		if err != nil {
			return metrics.QueueStats{}, err
		}
		st := metrics.QueueStats{Messages: len(items)}
		for _, it := range items {
			if age := time.Since(it.Created); age > st.Oldest {
				st.Oldest = age
			}
		}
		return st, nil
	})
}

// addHealth registers /healthz (the store answers) and /readyz (the
// store answers and every listener is open).
func (a *App) addHealth(mux *http.ServeMux) {
	check := func(w http.ResponseWriter, r *http.Request, needStarted bool) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := a.store().Ping(ctx); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		if needStarted && !a.started.Load() {
			http.Error(w, "listeners not started", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { check(w, r, false) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { check(w, r, true) })
}

// store is the store as the health checks see it (timed).
func (a *App) store() store.Pinger { return timedStore{Backend: a.Store, m: a.Metrics} }

// newMetricsServer serves /metrics, /healthz and /readyz on the
// [listen] metrics listener.
func newMetricsServer(a *App) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Metrics.Handler())
	a.addHealth(mux)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
}

// loopbackOnly serves h to loopback clients only (the http listeners'
// /metrics); others get 404.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
