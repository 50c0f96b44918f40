package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"time"

	"pochta/internal/manage"
	"pochta/internal/metrics"
	"pochta/internal/queue"
	"pochta/internal/store"
)

// dashData is the dashboard.
type dashData struct {
	Received, Submitted, Relayed   float64 // SMTP in, submitted, delivered to other servers
	QueueSize                      int
	QueueOldest                    string
	QueueError                     string
	Rejections, Deliveries, Logins []metrics.Count
	Domains, Accounts              int
	MailBytes                      int64
	DiskUsed, DiskTotal            int64
	DiskError                      string
	Backend                        string
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx := r.Context()
	m := s.opts.Manager
	d := dashData{Backend: m.Config.Store.Backend}
	if d.Backend == "" {
		d.Backend = "sqlite"
	}
	if mt := s.opts.Metrics; mt != nil {
		for _, c := range mt.Snapshot("pochta_smtp_transactions_total") {
			switch {
			case c.Labels == "result=accepted service=smtp":
				d.Received += c.Value
			case strings.HasPrefix(c.Labels, "result=accepted "):
				d.Submitted += c.Value
			default:
				d.Rejections = append(d.Rejections, metrics.Count{Labels: "at end of data: " + c.Labels, Value: c.Value})
			}
		}
		for _, c := range mt.Snapshot("pochta_smtp_recipients_rejected_total") {
			d.Rejections = append(d.Rejections, metrics.Count{Labels: "recipient: " + c.Labels, Value: c.Value})
		}
		d.Deliveries = mt.Snapshot("pochta_delivery_attempts_total")
		for _, c := range d.Deliveries {
			if c.Labels == "kind=remote result=delivered" {
				d.Relayed = c.Value
			}
		}
		d.Logins = mt.Snapshot("pochta_logins_total")
	}
	if items, err := s.queueItems(ctx); err != nil {
		d.QueueError = err.Error()
	} else {
		d.QueueSize = len(items)
		var oldest time.Time
		for _, it := range items {
			if oldest.IsZero() || it.Created.Before(oldest) {
				oldest = it.Created
			}
		}
		d.QueueOldest = since(oldest)
	}
	doms, err := m.Store.ListDomains(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Domains = len(doms)
	accts, err := m.Store.ListAccounts(ctx, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Accounts = len(accts)
	for _, a := range accts {
		used, _, err := m.Store.QuotaUsage(ctx, a.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		d.MailBytes += used
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(m.Config.DataDir, &fs); err != nil {
		d.DiskError = err.Error()
	} else {
		d.DiskTotal = int64(fs.Blocks) * int64(fs.Bsize)
		d.DiskUsed = d.DiskTotal - int64(fs.Bavail)*int64(fs.Bsize)
	}
	s.page(w, sess, "dashboard", "Dashboard", d)
}

func (s *Server) domains(w http.ResponseWriter, r *http.Request, sess *session) {
	ds, err := s.opts.Manager.Store.ListDomains(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, sess, "domains", "Domains", ds)
}

func (s *Server) domainsPost(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, m := r.Context(), s.opts.Manager
	name := r.PostFormValue("name")
	var err error
	var msg string
	switch r.PostFormValue("action") {
	case "add":
		if name, err = m.AddDomain(ctx, name); err == nil {
			msg = "Domain " + name + " added: publish its DNS records."
			s.done(w, r, sess, "/admin/domains/"+name, msg, nil)
			return
		}
	case "remove":
		err, msg = m.RemoveDomain(ctx, name), "Domain "+name+" removed."
	case "catchall":
		ca := strings.TrimSpace(r.PostFormValue("catchall"))
		err, msg = m.SetCatchAll(ctx, name, ca), "Catch-all of "+name+" set to "+ca+"."
		if ca == "" {
			msg = "Unknown recipients of " + name + " are rejected again."
		}
	default:
		err = errors.New("unknown action")
	}
	s.done(w, r, sess, "/admin/domains", msg, err)
}

// domainData is one domain's page: the records to publish and, when
// asked, what DNS says of each.
type domainData struct {
	Domain  store.Domain
	Records string
	Checked bool
	Checks  []manage.RecordCheck
}

func (s *Server) domain(w http.ResponseWriter, r *http.Request, sess *session) {
	m := s.opts.Manager
	d, err := m.Store.GetDomain(r.Context(), strings.ToLower(r.PathValue("name")))
	if errors.Is(err, store.ErrNotFound) {
		s.errorPage(w, http.StatusNotFound, "No such domain.")
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	data := domainData{Domain: d}
	if data.Records, err = m.DNSRecords(d.Name); err != nil {
		s.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("check") != "" && s.opts.Resolver != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		data.Checked = true
		if data.Checks, err = m.CheckDNS(ctx, s.opts.Resolver, d.Name); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.page(w, sess, "domain", d.Name, data)
}

// accountRow is one line of the accounts page.
type accountRow struct {
	store.Account
	Used  int64
	Flags store.AccountFlags
}

func (s *Server) accounts(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, st := r.Context(), s.opts.Manager.Store
	accts, err := st.ListAccounts(ctx, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rows := make([]accountRow, 0, len(accts))
	for _, a := range accts {
		row := accountRow{Account: a}
		if row.Used, _, err = st.QuotaUsage(ctx, a.ID); err == nil {
			row.Flags, err = st.AccountFlags(ctx, a.ID)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		rows = append(rows, row)
	}
	s.page(w, sess, "accounts", "Accounts", rows)
}

func (s *Server) accountsPost(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, m := r.Context(), s.opts.Manager
	addr := strings.ToLower(strings.TrimSpace(r.PostFormValue("address")))
	var err error
	var msg string
	switch r.PostFormValue("action") {
	case "add":
		var generated string
		generated, err = m.AddAccount(ctx, addr, r.PostFormValue("password"), r.PostFormValue("admin") != "")
		msg = "Account " + addr + " added."
		if generated != "" {
			msg += " Its password (shown once): " + generated
		}
	case "remove":
		err, msg = m.RemoveAccount(ctx, addr), "Account "+addr+" and all its mail removed."
	case "password":
		var generated string
		generated, err = m.SetPassword(ctx, addr, r.PostFormValue("password"))
		msg = "Password of " + addr + " changed."
		if generated != "" {
			msg = "New password of " + addr + " (shown once): " + generated
		}
	case "quota":
		var n int64
		if n, err = manage.ParseSize(r.PostFormValue("quota")); err == nil {
			err, msg = m.SetQuota(ctx, addr, n), fmt.Sprintf("Quota of %s set to %s.", addr, humanBytes(n))
		}
	case "disable", "enable":
		on := r.PostFormValue("action") == "disable"
		err, msg = m.SetDisabled(ctx, addr, on), "Account "+addr+" "+r.PostFormValue("action")+"d."
	case "admin", "unadmin":
		on := r.PostFormValue("action") == "admin"
		if !on && addr == sess.account {
			err = errors.New("you cannot take the admin flag from yourself")
			break
		}
		err, msg = m.SetAdmin(ctx, addr, on), fmt.Sprintf("Admin flag of %s: %v.", addr, on)
	default:
		err = errors.New("unknown action")
	}
	s.done(w, r, sess, "/admin/accounts", msg, err)
}

func (s *Server) aliases(w http.ResponseWriter, r *http.Request, sess *session) {
	as, err := s.opts.Manager.Store.ListAliases(r.Context(), "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, sess, "aliases", "Aliases", as)
}

func (s *Server) aliasesPost(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, m := r.Context(), s.opts.Manager
	addr := strings.ToLower(strings.TrimSpace(r.PostFormValue("address")))
	var err error
	var msg string
	switch r.PostFormValue("action") {
	case "add":
		err, msg = m.AddAlias(ctx, addr, []string{r.PostFormValue("targets")}), "Alias "+addr+" added."
	case "remove":
		err, msg = m.RemoveAlias(ctx, addr), "Alias "+addr+" removed."
	default:
		err = errors.New("unknown action")
	}
	s.done(w, r, sess, "/admin/aliases", msg, err)
}

// queueItems lists the queue through the same manager as `pochta queue`.
func (s *Server) queueItems(ctx context.Context) ([]queue.Item, error) {
	mgr, err := s.opts.Manager.Queue(ctx)
	if err != nil {
		return nil, err
	}
	defer mgr.Close()
	return mgr.List(ctx)
}

func (s *Server) queue(w http.ResponseWriter, r *http.Request, sess *session) {
	items, err := s.queueItems(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, sess, "queue", "Queue", items)
}

// messageData is one queued message's page.
type messageData struct {
	Item    queue.Item
	Headers string
}

func (s *Server) queueMessage(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx := r.Context()
	mgr, err := s.opts.Manager.Queue(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer mgr.Close()
	it, headers, err := mgr.Show(ctx, r.PathValue("id"))
	if err != nil {
		s.errorPage(w, http.StatusNotFound, "No such message in the queue: "+err.Error())
		return
	}
	s.page(w, sess, "message", "Queued message "+it.ID, messageData{Item: it, Headers: string(headers)})
}

func (s *Server) queuePost(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx := r.Context()
	mgr, err := s.opts.Manager.Queue(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer mgr.Close()
	id := r.PostFormValue("id")
	var do func(context.Context, string) error
	var msg string
	switch r.PostFormValue("action") {
	case "retry":
		do, msg = mgr.Retry, "Message "+id+" will be retried now."
	case "drop":
		do, msg = mgr.Drop, "Message "+id+" dropped."
	default:
		s.done(w, r, sess, "/admin/queue", "", errors.New("unknown action"))
		return
	}
	s.done(w, r, sess, "/admin/queue", msg, s.kicked(ctx, id, do))
}

// kicked runs a queue request and, while it waits for the running queue
// to apply it, asks the queue to read its requests now.
func (s *Server) kicked(ctx context.Context, id string, do func(context.Context, string) error) error {
	done := make(chan error, 1)
	go func() { done <- do(ctx, id) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if s.opts.KickQueue != nil {
				s.opts.KickQueue()
			}
		}
	}
}

// dkimRow is one DKIM key.
type dkimRow struct {
	Domain, Selector, Algo, Name, Record string
}

func (s *Server) dkim(w http.ResponseWriter, r *http.Request, sess *session) {
	keys, err := s.opts.Manager.DKIMKeys()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	doms, err := s.opts.Manager.Store.ListDomains(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rows := make([]dkimRow, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, dkimRow{k.Domain, k.Selector, k.Algo, k.TXTName(), k.TXTValue()})
	}
	s.page(w, sess, "dkim", "DKIM keys", struct {
		Keys    []dkimRow
		Domains []store.Domain
	}{rows, doms})
}

func (s *Server) dkimPost(w http.ResponseWriter, r *http.Request, sess *session) {
	sel := strings.TrimSpace(r.PostFormValue("selector"))
	if sel == "" {
		sel = "pochta"
	}
	algo := r.PostFormValue("algo")
	if algo != "rsa" {
		algo = "ed25519"
	}
	_, err := s.opts.Manager.DKIMKeygen(r.PostFormValue("domain"), sel, algo)
	s.done(w, r, sess, "/admin/dkim", "DKIM key "+sel+" for "+r.PostFormValue("domain")+" made; publish its record, then restart pochta to sign with it.", err)
}
