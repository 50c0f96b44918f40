package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"pochta/internal/envelope"
	"pochta/internal/store"
	"pochta/internal/tlsrpt"
)

// TLS-RPT counts live in the store's server state, so that they survive
// a restart and the counts of every node of a store add up: each node
// writes what it counted since its last flush (every tlsReportFlush and
// at shutdown) as a new value tlsrpt/counts/DAY/NODE-N, never rewriting
// another's. After a day ends, the node that claims tlsrpt/sent/DAY
// (store.ServerState.AddState: exactly one wins) adds them up, sends the
// reports and removes them. A node killed with SIGKILL loses at most what
// it counted in its last tlsReportFlush.
const (
	tlsReportFlush  = time.Minute
	tlsCountsPrefix = "tlsrpt/counts/"
	tlsSentPrefix   = "tlsrpt/sent/"
	// tlsReportDelay is how long after midnight UTC a day's reports are
	// sent: every running node has flushed that day's counts by then.
	tlsReportDelay = 5 * time.Minute
)

// dailyTLSReports flushes the counts to the store every tlsReportFlush
// and sends each UTC day's TLS reports shortly after it ends.
func (a *App) dailyTLSReports(ctx context.Context) {
	tick := time.NewTicker(tlsReportFlush)
	defer tick.Stop()
	for {
		now := time.Now().UTC()
		next := now.Truncate(24 * time.Hour).Add(24*time.Hour + tlsReportDelay)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			a.flushTLSReports(ctx)
			continue
		case <-time.After(next.Sub(now)):
		}
		a.sendTLSReports(ctx, next.Add(-24*time.Hour))
	}
}

// flushTLSReports writes the counts made since the last flush to the
// store; what cannot be written is kept for the next flush.
func (a *App) flushTLSReports(ctx context.Context) {
	for day, data := range a.TLSReports.Drain() {
		name := fmt.Sprintf("%s%s/%s-%d", tlsCountsPrefix, day, a.nodeID, a.flushes.Add(1))
		if err := a.Store.PutState(ctx, name, data); err != nil {
			a.log.Warn("tls report counts not saved, kept for the next try", "day", day, "err", err)
			a.TLSReports.Merge(day, data)
		}
	}
}

// takeTLSReports claims day for this node and returns its reports from
// the counts of every node; none when another node has claimed the day.
func (a *App) takeTLSReports(ctx context.Context, day time.Time, org, contact string) map[string]tlsrpt.Report {
	a.flushTLSReports(ctx)
	d := day.UTC().Format(time.DateOnly)
	if err := a.Store.AddState(ctx, tlsSentPrefix+d, []byte(a.cfg.Hostname+" "+a.nodeID)); err != nil {
		if !errors.Is(err, store.ErrExists) {
			a.log.Error("tls reports: claiming the day", "day", d, "err", err)
		}
		return nil
	}
	names, err := a.Store.ListState(ctx, tlsCountsPrefix+d+"/")
	if err != nil {
		a.log.Error("tls reports: listing the counts", "day", d, "err", err)
		return nil
	}
	sum := tlsrpt.NewRecorder(nil)
	for _, n := range names {
		data, err := a.Store.GetState(ctx, n)
		if err == nil {
			err = sum.Merge(d, data)
		}
		if err != nil {
			a.log.Warn("tls reports: counts skipped", "name", n, "err", err)
		}
	}
	for _, n := range names {
		a.Store.DeleteState(ctx, n)
	}
	// Claims older than a month, and counts a node flushed for a day
	// after it was reported, are no longer needed.
	for _, prefix := range []string{tlsSentPrefix, tlsCountsPrefix} {
		old, _ := a.Store.ListState(ctx, prefix)
		for _, n := range old {
			d, _, _ := strings.Cut(strings.TrimPrefix(n, prefix), "/")
			if t, err := time.Parse(time.DateOnly, d); err == nil && day.Sub(t) > 31*24*time.Hour {
				a.Store.DeleteState(ctx, n)
			}
		}
	}
	return sum.Take(day, org, contact)
}

// sendTLSReports sends the reports of day to each recipient domain whose
// `_smtp._tls` record names a mailto: address (RFC 8460 §3, §5.3) or an
// https: URI (§5.4: POSTed at once, retried for a day on failure). The
// report mail says "TLS-Required: No" so that a broken TLS setup does
// not stop its own report (RFC 8460 §5.3, RFC 8689 §5).
func (a *App) sendTLSReports(ctx context.Context, day time.Time) {
	host := strings.ToLower(strings.TrimSuffix(a.cfg.Hostname, "."))
	from := "postmaster@" + host
	for domain, rep := range a.takeTLSReports(ctx, day, host, from) {
		txts, err := a.resolver.LookupTXT(ctx, "_smtp._tls."+domain)
		if err != nil {
			continue
		}
		for _, txt := range txts {
			rua, err := tlsrpt.ParseRecord(txt)
			if err != nil {
				continue
			}
			for _, u := range rua {
				if strings.HasPrefix(u, "https:") {
					a.postTLSReport(ctx, domain, u, rep)
					continue
				}
				to, ok := strings.CutPrefix(u, "mailto:")
				if !ok || !strings.Contains(to, "@") || strings.ContainsAny(to, "<>\r\n ") {
					continue
				}
				msg, err := tlsrpt.Message(rep, domain, host, from, to, time.Now())
				if err != nil {
					a.log.Error("tls report", "domain", domain, "err", err)
					continue
				}
				msg = append([]byte("TLS-Required: No\r\n"), msg...)
				if msg, err = a.outbound.Sign("", msg); err != nil { // from postmaster@ our host name
					a.log.Error("tls report not signed", "domain", domain, "err", err)
					continue
				}
				env := envelope.Envelope{From: from, Recipients: []envelope.Recipient{{Address: to, Notify: []string{"NEVER"}}}, Received: time.Now()}
				if _, err := a.Queue.Enqueue(ctx, env, msg); err != nil {
					a.log.Error("tls report not queued", "domain", domain, "err", err)
					continue
				}
				a.log.Info("tls report queued", "domain", domain, "to", to, "report_id", rep.ReportID)
			}
		}
	}
}

// postTLSReport delivers one report to an https: URI of the domain's
// record, with a.tlsReportHTTP (system roots; redirects only to https).
// A failure is retried in the background for up to a day (RFC 8460 §5.5),
// at the waits of a.tlsReportRetries, until ctx ends.
func (a *App) postTLSReport(ctx context.Context, domain, uri string, rep tlsrpt.Report) {
	client := a.tlsReportHTTP
	if client == nil {
		client = &http.Client{Timeout: time.Minute, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" || len(via) > 3 {
				return errors.New("redirect refused")
			}
			return nil
		}}
	}
	post := func() bool {
		if err := tlsrpt.Post(ctx, client, uri, rep); err != nil {
			a.log.Error("tls report not posted", "domain", domain, "uri", uri, "err", err)
			return false
		}
		a.log.Info("tls report posted", "domain", domain, "uri", uri, "report_id", rep.ReportID)
		return true
	}
	if post() {
		return
	}
	waits := a.tlsReportRetries
	if waits == nil {
		waits = []time.Duration{5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour} // 20h35m in all
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for _, w := range waits {
			select {
			case <-ctx.Done():
				return
			case <-time.After(w):
			}
			if post() {
				return
			}
		}
		a.log.Error("tls report given up", "domain", domain, "uri", uri, "report_id", rep.ReportID)
	}()
}
