// Package tlsrpt implements SMTP TLS Reporting (RFC 8460): it counts the
// outcome of outbound TLS sessions per recipient domain and policy, writes
// the daily aggregate report in the RFC 8460 §4 JSON format, reads a
// domain's `_smtp._tls` record and builds the report message (§5.3).
package tlsrpt

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"
)

// Policy types (RFC 8460 §4.3).
const (
	PolicySTS      = "sts"
	PolicyTLSA     = "tlsa"
	PolicyNotFound = "no-policy-found"
)

// maxDomains bounds the domains counted per day.
const maxDomains = 10000

// Session is the outcome of one outbound connection.
type Session struct {
	Domain        string // the recipient (policy) domain
	PolicyType    string
	PolicyStrings []string // the policy text lines, or TLSA records
	MXPatterns    []string // an MTA-STS policy's mx patterns
	MXHost        string   // the receiving MX
	SendingIP     string
	ReceivingIP   string
	// Result is "" for success, else the RFC 8460 §4.3 result type.
	Result string
}

// Report is one RFC 8460 §4.4 report.
type Report struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        DateRange      `json:"date-range"`
	ContactInfo      string         `json:"contact-info"`
	ReportID         string         `json:"report-id"`
	Policies         []PolicyResult `json:"policies"`
}

// DateRange is the UTC day a report covers.
type DateRange struct {
	Start string `json:"start-datetime"`
	End   string `json:"end-datetime"`
}

// PolicyResult is the results under one policy.
type PolicyResult struct {
	Policy         PolicyDesc `json:"policy"`
	Summary        Summary    `json:"summary"`
	FailureDetails []Failure  `json:"failure-details,omitempty"`
}

// PolicyDesc names the policy.
type PolicyDesc struct {
	Type   string   `json:"policy-type"`
	String []string `json:"policy-string,omitempty"`
	Domain string   `json:"policy-domain"`
	MXHost []string `json:"mx-host,omitempty"`
}

// Summary counts sessions.
type Summary struct {
	Success int `json:"total-successful-session-count"`
	Failure int `json:"total-failure-session-count"`
}

// Failure is one kind of failure with its count.
type Failure struct {
	ResultType  string `json:"result-type"`
	SendingIP   string `json:"sending-mta-ip,omitempty"`
	ReceivingMX string `json:"receiving-mx-hostname,omitempty"`
	ReceivingIP string `json:"receiving-ip,omitempty"`
	Count       int    `json:"failed-session-count"`
}

// Recorder counts sessions per UTC day. It is safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	now  func() time.Time
	days map[string]map[string][]*PolicyResult // day → domain → results
}

// NewRecorder returns a Recorder on the clock now (nil = time.Now).
func NewRecorder(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now, days: map[string]map[string][]*PolicyResult{}}
}

// Add counts one session.
func (r *Recorder) Add(s Session) {
	day := r.now().UTC().Format(time.DateOnly)
	domain := strings.ToLower(s.Domain)
	pr := PolicyResult{Policy: PolicyDesc{Type: s.PolicyType, String: s.PolicyStrings, Domain: domain, MXHost: s.MXPatterns}}
	if s.Result == "" {
		pr.Summary.Success = 1
	} else {
		pr.Summary.Failure = 1
		pr.FailureDetails = []Failure{{ResultType: s.Result, SendingIP: s.SendingIP, ReceivingMX: s.MXHost, ReceivingIP: s.ReceivingIP, Count: 1}}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(day, domain, pr)
}

// add adds the counts of pr to day's results for domain; r.mu is held.
func (r *Recorder) add(day, domain string, in PolicyResult) {
	doms := r.days[day]
	if doms == nil {
		doms = map[string][]*PolicyResult{}
		r.days[day] = doms
	}
	if _, ok := doms[domain]; !ok && len(doms) >= maxDomains {
		return
	}
	var pr *PolicyResult
	for _, p := range doms[domain] {
		if p.Policy.Type == in.Policy.Type && slices.Equal(p.Policy.String, in.Policy.String) {
			pr = p
		}
	}
	if pr == nil {
		pr = &PolicyResult{Policy: in.Policy}
		doms[domain] = append(doms[domain], pr)
	}
	pr.Summary.Success += in.Summary.Success
	pr.Summary.Failure += in.Summary.Failure
next:
	for _, f := range in.FailureDetails {
		for i, g := range pr.FailureDetails {
			if f.ResultType == g.ResultType && f.ReceivingMX == g.ReceivingMX && f.ReceivingIP == g.ReceivingIP && f.SendingIP == g.SendingIP {
				pr.FailureDetails[i].Count += f.Count
				continue next
			}
		}
		pr.FailureDetails = append(pr.FailureDetails, f)
	}
}

// Drain removes every day's counts and returns them by UTC day
// (YYYY-MM-DD), each as JSON for Merge: what a node writes to its store
// so that counts survive a restart and several nodes' counts add up.
func (r *Recorder) Drain() map[string][]byte {
	r.mu.Lock()
	days := r.days
	r.days = map[string]map[string][]*PolicyResult{}
	r.mu.Unlock()
	out := map[string][]byte{}
	for day, doms := range days {
		if data, err := json.Marshal(doms); err == nil && len(doms) > 0 {
			out[day] = data
		}
	}
	return out
}

// Merge adds the counts of one day that Drain returned.
func (r *Recorder) Merge(day string, data []byte) error {
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return fmt.Errorf("tlsrpt: day %q: %w", day, err)
	}
	var doms map[string][]PolicyResult
	if err := json.Unmarshal(data, &doms); err != nil {
		return fmt.Errorf("tlsrpt: counts of %s: %w", day, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for domain, prs := range doms {
		for _, pr := range prs {
			r.add(day, strings.ToLower(domain), pr)
		}
	}
	return nil
}

// Take removes and returns the reports of the UTC day of day, one per
// recipient domain, sorted by domain.
func (r *Recorder) Take(day time.Time, org, contact string) map[string]Report {
	d := day.UTC().Format(time.DateOnly)
	r.mu.Lock()
	doms := r.days[d]
	delete(r.days, d)
	r.mu.Unlock()
	start, _ := time.Parse(time.DateOnly, d)
	out := map[string]Report{}
	for domain, prs := range doms {
		rep := Report{
			OrganizationName: org, ContactInfo: contact, ReportID: d + "_" + domain + "_" + randomID(),
			DateRange: DateRange{Start: start.Format(time.RFC3339), End: start.Add(24*time.Hour - time.Second).Format(time.RFC3339)},
		}
		for _, p := range prs {
			rep.Policies = append(rep.Policies, *p)
		}
		out[domain] = rep
	}
	return out
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ParseRecord reads a `_smtp._tls` TXT record ("v=TLSRPTv1; rua=…",
// RFC 8460 §3) and returns its mailto: and https: report URIs.
func ParseRecord(txt string) ([]string, error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=TLSRPTv1" {
		return nil, errors.New("tlsrpt: record does not start with v=TLSRPTv1")
	}
	var rua []string
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if k != "rua" {
			continue
		}
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); strings.HasPrefix(u, "mailto:") || strings.HasPrefix(u, "https:") {
				rua = append(rua, u)
			}
		}
	}
	if len(rua) == 0 {
		return nil, errors.New("tlsrpt: record has no rua")
	}
	return rua, nil
}

// Message is the report mail (RFC 8460 §5.3): multipart/report of
// report-type "tlsrpt" with a human-readable part and the gzipped JSON as
// application/tlsrpt+gzip.
func Message(rep Report, domain, submitter, from, to string, now time.Time) ([]byte, error) {
	gz, err := gzipReport(rep)
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	text, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=us-ascii"}})
	fmt.Fprintf(text, "This is an aggregate TLS report (RFC 8460) from %s for %s.\r\n", submitter, domain)
	name := fmt.Sprintf("%s!%s!%d!%d.json.gz", submitter, domain, unix(rep.DateRange.Start), unix(rep.DateRange.End))
	att, _ := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"application/tlsrpt+gzip"},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {`attachment; filename="` + name + `"`},
	})
	att.Write(base64Lines(gz))
	mw.Close()
	var m bytes.Buffer
	fmt.Fprintf(&m, "From: %s\r\nTo: %s\r\nDate: %s\r\n", from, to, now.Format(time.RFC1123Z))
	fmt.Fprintf(&m, "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n", domain, submitter, rep.ReportID)
	fmt.Fprintf(&m, "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\n", domain, submitter)
	fmt.Fprintf(&m, "Message-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n", rep.ReportID, submitter)
	fmt.Fprintf(&m, "Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"%s\"\r\n\r\n", mw.Boundary())
	m.Write(body.Bytes())
	return m.Bytes(), nil
}

func unix(s string) int64 {
	t, _ := time.Parse(time.RFC3339, s)
	return t.Unix()
}

// base64Lines encodes b in lines of 76 characters (RFC 2045 §6.8).
func base64Lines(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out bytes.Buffer
	for len(enc) > 76 {
		out.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	out.WriteString(enc + "\r\n")
	return out.Bytes()
}
