package manage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	mdns "github.com/miekg/dns"

	"pochta/internal/acmecert"
	"pochta/internal/dane"
	"pochta/internal/dkim"
	"pochta/internal/dns"
	"pochta/internal/mtasts"
)

// DNSRecords returns, as zone-file lines with comments, every record
// domain needs (`pochta dns records`): MX, SPF, DKIM, DMARC,
// autoconfiguration names and SRV records (RFC 6186/8314, from the
// configured listeners), MTA-STS and DANE.
func (m *Manager) DNSRecords(domain string) (string, error) {
	d, err := NormDomain(domain)
	if err != nil {
		return "", err
	}
	cfg := m.Config
	keys, err := m.DKIMKeys()
	if err != nil {
		return "", err
	}
	var records []string
	for _, k := range keys {
		if k.Domain == d {
			records = append(records, k.Record())
		}
	}
	var b strings.Builder
	b.WriteString(dkim.Records(d, cfg.Hostname, cfg.Hostname, records))
	b.WriteString("\n")
	b.WriteString(dkim.SRVRecords(d, cfg.Hostname, dkim.SRVPorts{
		Submissions: firstPort(cfg.Listen.Submissions), Submission: firstPort(cfg.Listen.Submission),
		IMAPS: firstPort(cfg.Listen.IMAPS), IMAP: firstPort(cfg.Listen.IMAP),
		POP3S: firstPort(cfg.Listen.POP3S), POP3: firstPort(cfg.Listen.POP3),
	}))
	b.WriteString("\n")
	b.WriteString(mtasts.Published(cfg.TLS.MTASTSMode, cfg.Hostname).Records(d, cfg.Hostname))
	b.WriteString("\n")
	b.WriteString(m.tlsaRecord())
	return b.String(), nil
}

// firstPort is the port of the first listen address, 0 when none.
func firstPort(addrs []string) int {
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a); err == nil {
			var n int
			if _, err := fmt.Sscan(port, &n); err == nil {
				return n
			}
		}
	}
	return 0
}

// tlsaRecord is the DANE-EE record (RFC 7672 §3.1.1) for the key of our
// certificate on port 25; it needs DNSSEC on the zone, and a key kept
// across renewals. With [tls] acme it is the ACME certificate's: acmecert
// keeps cert.key across renewals (only the certificate is reissued), so
// the "3 1 1" record (SPKI, SHA-256) stays valid. The configured files
// are the admin's to keep; the self-signed key lasts its ten years.
func (m *Manager) tlsaRecord() string {
	cfg := m.Config
	certFile := cfg.TLS.CertFile
	if certFile == "" {
		certFile = filepath.Join(cfg.DataDir, "tls", "selfsigned.crt")
	}
	head := "; DANE (RFC 7672), only in a DNSSEC-signed zone, and only while the key is kept.\n"
	data, err := os.ReadFile(certFile)
	if cfg.TLS.ACME { // what port 25 serves once ACME has a certificate, kept in the store
		certFile = "the store's ACME certificate"
		data, err = m.Store.GetState(context.Background(), acmecert.StatePrefix+"cert.pem")
	}
	if err != nil {
		return head + "; (no certificate yet: start pochta once)\n"
	}
	rec, err := dane.PEMRecord(data)
	if err != nil {
		return head + "; (" + certFile + ": " + err.Error() + ")\n"
	}
	return head + fmt.Sprintf("_25._tcp.%s. IN TLSA %s\n", strings.ToLower(strings.TrimSuffix(cfg.Hostname, ".")), rec)
}

// RecordCheck is one record to publish and what DNS says now.
type RecordCheck struct {
	Name, Type, Value string // the record to publish
	// Status: "ok" (published as it should be), "missing" (no record of
	// that type at the name), "different" (others are there: Found) or
	// "error" (the look-up failed: Found holds why).
	Status string
	Found  []string
}

// CheckDNS looks up every record DNSRecords lists (the commented-out
// ones aside) through r and says which are published.
func (m *Manager) CheckDNS(ctx context.Context, r *dns.Resolver, domain string) ([]RecordCheck, error) {
	text, err := m.DNSRecords(domain)
	if err != nil {
		return nil, err
	}
	var out []RecordCheck
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		want, err := mdns.NewRR(line)
		if err != nil || want == nil {
			continue
		}
		h := want.Header()
		c := RecordCheck{Name: h.Name, Type: mdns.TypeToString[h.Rrtype], Value: rdata(want)}
		got, err := r.LookupRR(ctx, h.Name, h.Rrtype)
		switch {
		case errors.Is(err, dns.ErrNotFound):
			c.Status = "missing"
		case err != nil:
			c.Status, c.Found = "error", []string{err.Error()}
		default:
			c.Status = "different"
			for _, rr := range got {
				v := rdata(rr)
				c.Found = append(c.Found, v)
				if strings.EqualFold(v, c.Value) {
					c.Status = "ok"
				}
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// rdata is a record's data as text, TXT strings joined (as receivers
// read them).
func rdata(rr mdns.RR) string {
	if t, ok := rr.(*mdns.TXT); ok {
		return strings.Join(t.Txt, "")
	}
	return strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String()))
}
