package app

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"pochta/internal/acmecert"
	"pochta/internal/config"
	"pochta/internal/dns"
	"pochta/internal/store"
)

// newACME builds the certificate manager of [tls] acme. Its names are
// the hostname and, for each domain, mta-sts.DOMAIN and
// autoconfig.DOMAIN when they resolve (a name the CA cannot reach would
// fail the whole order).
func newACME(cfg *config.Config, st store.Backend, log *slog.Logger) (*acmecert.Manager, error) {
	var roots *x509.CertPool
	if cfg.TLS.ACMECAFile != "" {
		data, err := os.ReadFile(cfg.TLS.ACMECAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.acme_ca_file: %w", err)
		}
		if roots, err = x509.SystemCertPool(); err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("tls.acme_ca_file: no certificate in %s", cfg.TLS.ACMECAFile)
		}
	}
	resolver := dns.New(cfg.DNS.Servers, cfg.DNS.Timeout.Duration)
	names := func(ctx context.Context) []string {
		out := []string{strings.ToLower(strings.TrimSuffix(cfg.Hostname, "."))}
		domains, err := st.ListDomains(ctx)
		if err != nil {
			log.Warn("acme: listing domains", "err", err)
		}
		for _, d := range domains {
			for _, prefix := range []string{"mta-sts.", "autoconfig."} {
				n := prefix + d.Name
				if _, err := resolver.LookupIP(ctx, n); err == nil && n != out[0] {
					out = append(out, n)
				}
			}
		}
		return out
	}
	return acmecert.New(acmecert.Options{
		Directory:   cfg.TLS.ACMEDirectory,
		Email:       cfg.TLS.ACMEEmail,
		RootCAs:     roots,
		RenewBefore: cfg.TLS.ACMERenewBefore.Duration,
		Names:       names,
		State:       st, // shared by every node of the store
		NoHTTP01:    len(cfg.Listen.HTTP) == 0,
		Logger:      log.With("component", "acme"),
	})
}
