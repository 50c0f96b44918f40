package dkim

import (
	"fmt"
	"strings"
)

// SRVPorts are the ports of the client services a domain's SRV records
// name (RFC 6186 §3, RFC 8314 §5.1); 0 means the service is not offered.
type SRVPorts struct {
	Submissions, Submission, IMAPS, IMAP, POP3S, POP3 int
}

// SRVRecords returns the service records of domain served by hostname:
// implicit TLS first (RFC 8314 §5.1: a lower priority than the STARTTLS
// service), and for a service not offered the target "." with port 0,
// which says "decidedly not available" (RFC 2782, RFC 6186 §3.4).
func SRVRecords(domain, hostname string, p SRVPorts) string {
	d := strings.ToLower(strings.TrimSuffix(domain, ".")) + "."
	h := strings.ToLower(strings.TrimSuffix(hostname, ".")) + "."
	var b strings.Builder
	b.WriteString("; Service records (RFC 6186; implicit TLS preferred, RFC 8314 §5.1;\n")
	b.WriteString("; port 0 and target \".\": not offered).\n")
	for _, s := range []struct {
		name     string
		priority int
		port     int
	}{
		{"_submissions", 0, p.Submissions}, {"_submission", 10, p.Submission},
		{"_imaps", 0, p.IMAPS}, {"_imap", 10, p.IMAP},
		{"_pop3s", 20, p.POP3S}, {"_pop3", 30, p.POP3},
	} {
		if s.port == 0 {
			fmt.Fprintf(&b, "%s._tcp.%s IN SRV 0 0 0 .\n", s.name, d)
			continue
		}
		fmt.Fprintf(&b, "%s._tcp.%s IN SRV %d 1 %d %s\n", s.name, d, s.priority, s.port, h)
	}
	return b.String()
}
