// Package metrics counts what the servers do, for Prometheus (/metrics)
// and the web admin's dashboard: SMTP transactions and refused
// recipients by result, delivery attempts by result, the queue's size and
// oldest message, open sessions per service, logins by result, spam
// verdicts and store latency. internal/app makes one Metrics (its own
// registry, no package globals) and hands its methods to the servers.
package metrics

import (
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Metrics holds the counters of one running server.
type Metrics struct {
	reg          *prometheus.Registry
	smtpTx       *prometheus.CounterVec
	rcptRejected *prometheus.CounterVec
	deliveries   *prometheus.CounterVec
	logins       *prometheus.CounterVec
	sessions     *prometheus.GaugeVec
	spam         *prometheus.CounterVec
	storeLatency *prometheus.HistogramVec
}

// New makes the metrics with their own registry (plus the Go runtime's
// and the process's collectors).
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		smtpTx: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pochta_smtp_transactions_total",
			Help: "SMTP transactions that reached the end of DATA, by service and result (accepted, or the reply code and enhanced status).",
		}, []string{"service", "result"}),
		rcptRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pochta_smtp_recipients_rejected_total",
			Help: "RCPT TO commands refused, by service and reply (code and enhanced status).",
		}, []string{"service", "reason"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pochta_delivery_attempts_total",
			Help: "Queue delivery attempts per recipient, by kind (local, remote) and result (delivered, deferred, failed).",
		}, []string{"kind", "result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pochta_logins_total",
			Help: "Password logins by protocol and result (ok, failed, error).",
		}, []string{"protocol", "result"}),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pochta_sessions_open",
			Help: "Open client connections by service (smtp, imap, pop3, http for JMAP and the web pages, ...).",
		}, []string{"service"}),
		spam: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pochta_spam_verdicts_total",
			Help: "Spam filter verdicts on inbound mail, by action.",
		}, []string{"action"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pochta_store_seconds",
			Help:    "Store operation latency by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
	}
	m.reg.MustRegister(m.smtpTx, m.rcptRejected, m.deliveries, m.logins, m.sessions, m.spam, m.storeLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where further collectors (the queue's) are registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Reason turns an SMTP reply ("550 5.7.1 Relaying denied") into a label
// of bounded variety: the code and the enhanced status code.
func Reason(replyText string) string {
	f := strings.Fields(replyText)
	switch {
	case len(f) >= 2 && strings.Count(f[1], ".") == 2:
		return f[0] + " " + f[1]
	case len(f) >= 1 && len(f[0]) == 3:
		return f[0]
	}
	return "other"
}

// SMTPTransaction counts one transaction's outcome: "accepted" or the
// refusing reply's text.
func (m *Metrics) SMTPTransaction(service, result string) {
	if result != "accepted" {
		result = Reason(result)
	}
	m.smtpTx.WithLabelValues(service, result).Inc()
}

// RecipientRejected counts one refused RCPT TO by its reply's text.
func (m *Metrics) RecipientRejected(service, replyText string) {
	m.rcptRejected.WithLabelValues(service, Reason(replyText)).Inc()
}

// Delivery counts one recipient's delivery attempt.
func (m *Metrics) Delivery(kind, result string) { m.deliveries.WithLabelValues(kind, result).Inc() }

// Login counts one login: result is "ok", "failed" (refused
// credentials) or "error" (a temporary failure).
func (m *Metrics) Login(protocol, result string) { m.logins.WithLabelValues(protocol, result).Inc() }

// SpamVerdict counts one verdict by its action (accept, junk, reject, ...).
func (m *Metrics) SpamVerdict(action string) { m.spam.WithLabelValues(action).Inc() }

// StoreOp records how long one store operation took.
func (m *Metrics) StoreOp(op string, d time.Duration) {
	m.storeLatency.WithLabelValues(op).Observe(d.Seconds())
}

// Listener counts the open connections accepted by l as sessions of
// service.
func (m *Metrics) Listener(service string, l net.Listener) net.Listener {
	return &countingListener{Listener: l, g: m.sessions.WithLabelValues(service)}
}

type countingListener struct {
	net.Listener
	g prometheus.Gauge
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.g.Inc()
	return &countedConn{Conn: c, g: l.g}, nil
}

// countedConn takes itself off the gauge once, at its first Close.
type countedConn struct {
	net.Conn
	g    prometheus.Gauge
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.g.Dec)
	return c.Conn.Close()
}

// QueueStats is what the queue holds now.
type QueueStats struct {
	Messages int
	Oldest   time.Duration // age of the oldest message; 0 when empty
}

// WatchQueue reports the queue's size and oldest message at each scrape
// (stats is called once per scrape).
func (m *Metrics) WatchQueue(stats func() (QueueStats, error)) {
	m.reg.MustRegister(&queueCollector{stats: stats})
}

// WatchIndex reports how many delivered messages wait for the search
// index (a store that indexes in the background; backlog is called once
// per scrape).
func (m *Metrics) WatchIndex(backlog func() int64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pochta_search_index_backlog",
		Help: "Delivered messages whose text is not yet in the search index (a search indexes its mailbox's first).",
	}, func() float64 { return float64(backlog()) }))
}

var (
	queueSizeDesc = prometheus.NewDesc("pochta_queue_messages", "Messages in the outbound queue.", nil, nil)
	queueAgeDesc  = prometheus.NewDesc("pochta_queue_oldest_seconds", "Age of the oldest message in the outbound queue (0 when empty).", nil, nil)
)

type queueCollector struct {
	stats func() (QueueStats, error)
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueSizeDesc
	ch <- queueAgeDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.stats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueSizeDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueSizeDesc, prometheus.GaugeValue, float64(s.Messages))
	ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, s.Oldest.Seconds())
}

// Count is one labelled value of a snapshot.
type Count struct {
	Labels string // "service=smtp result=550 5.7.1"
	Value  float64
}

// Snapshot returns the current values of one metric family (by name),
// sorted by labels: what the web admin's dashboard shows.
func (m *Metrics) Snapshot(name string) []Count {
	fams, _ := m.reg.Gather() // a failing collector leaves the others
	var out []Count
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			out = append(out, Count{Labels: labels(mt), Value: value(mt)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Labels < out[j].Labels })
	return out
}

func labels(mt *dto.Metric) string {
	var parts []string
	for _, l := range mt.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, " ")
}

func value(mt *dto.Metric) float64 {
	switch {
	case mt.Counter != nil:
		return mt.Counter.GetValue()
	case mt.Gauge != nil:
		return mt.Gauge.GetValue()
	case mt.Histogram != nil:
		return float64(mt.Histogram.GetSampleCount())
	}
	return 0
}
