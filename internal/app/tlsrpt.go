package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"pochta/internal/envelope"
	"pochta/internal/tlsrpt"
)

// dailyTLSReports sends each UTC day's TLS reports shortly after it ends.
func (a *App) dailyTLSReports(ctx context.Context) {
	for {
		now := time.Now().UTC()
		next := now.Truncate(24 * time.Hour).Add(24*time.Hour + 5*time.Minute)
		select {
		case <-ctx.Done():
			return
		case <-time.After(next.Sub(now)):
		}
		a.sendTLSReports(ctx, next.Add(-24*time.Hour))
	}
}

// sendTLSReports sends the reports of day to each recipient domain whose
// `_smtp._tls` record names a mailto: address (RFC 8460 §3, §5.3) or an
// https: URI (§5.4: POSTed at once, retried for a day on failure). The
// report mail says "TLS-Required: No" so that a broken TLS setup does
// not stop its own report (RFC 8460 §5.3, RFC 8689 §5).
func (a *App) sendTLSReports(ctx context.Context, day time.Time) {
	host := strings.ToLower(strings.TrimSuffix(a.cfg.Hostname, "."))
	from := "postmaster@" + host
	for domain, rep := range a.TLSReports.Take(day, host, from) {
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
