package dkim

import (
	"fmt"
	"strings"
)

// Records returns, as zone-file lines with comments, every DNS record
// domain needs to send and receive mail through this server: MX, SPF,
// the DKIM keys (dkimRecords, as Keygen or Key.Record return them),
// DMARC, client autoconfiguration (autoconfig/autodiscover names; the
// RFC 6186 / RFC 8314 SRV records are SRVRecords) and, commented out,
// TLS-RPT. hostname is this server's name; mxHost is the MX target (""
// means hostname).
func Records(domain, hostname string, mxHost string, dkimRecords []string) string {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	hostname = strings.ToLower(strings.TrimSuffix(hostname, "."))
	if mxHost == "" {
		mxHost = hostname
	}
	mxHost = strings.ToLower(strings.TrimSuffix(mxHost, "."))
	d, h, mx := domain+".", hostname+".", mxHost+"."

	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }

	line("; DNS records for %s, served by %s.", domain, hostname)
	line("; %s must have A/AAAA records for this server's addresses, and each", mx)
	line("; address a PTR record naming %s (receivers check it).", h)
	line("")
	line("; Mail exchanger (RFC 5321 §5.1).")
	line("%s IN MX 10 %s", d, mx)
	line("")
	line("; SPF (RFC 7208): only the MX hosts send mail for %s.", domain)
	line(`%s IN TXT "v=spf1 mx -all"`, d)
	line("")
	line("; DKIM public keys (RFC 6376 §3.6.2).")
	if len(dkimRecords) == 0 {
		line("; (none: create one with the dkim keygen command)")
	}
	for _, r := range dkimRecords {
		line("%s", strings.TrimSpace(r))
	}
	line("")
	line("; DMARC (RFC 7489): quarantine mail failing SPF and DKIM alignment;")
	line("; aggregate reports go to postmaster.")
	line(`_dmarc.%s IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@%s"`, d, domain)
	line("")
	line("; Mail client autoconfiguration (Thunderbird autoconfig, Outlook autodiscover).")
	line("autoconfig.%s IN CNAME %s", d, h)
	line("autodiscover.%s IN CNAME %s", d, h)
	line("")
	line("; Optional: TLS reporting (RFC 8460); MTA-STS (mta-sts.%s, _mta-sts) and DANE follow.", domain)
	line(`; _smtp._tls.%s IN TXT "v=TLSRPTv1; rua=mailto:postmaster@%s"`, d, domain)
	return b.String()
}
