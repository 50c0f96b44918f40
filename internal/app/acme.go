package app

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"pochta/internal/acmecert"
	"pochta/internal/config"
	"pochta/internal/dns"
	"pochta/internal/store"
)

// newACME builds the certificate manager of [tls] acme, for acmeNames.
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
	return acmecert.New(acmecert.Options{
		Directory:   cfg.TLS.ACMEDirectory,
		Email:       cfg.TLS.ACMEEmail,
		RootCAs:     roots,
		RenewBefore: cfg.TLS.ACMERenewBefore.Duration,
		Names:       acmeNames(cfg, st, dns.New(cfg.DNS.Servers, cfg.DNS.Timeout.Duration), log),
		State:       st, // shared by every node of the store
		NoHTTP01:    len(cfg.Listen.HTTP) == 0,
		Logger:      log.With("component", "acme"),
	})
}

// acmeNames lists the certificate's names, asked again at every check
// (so a domain added at runtime is seen): the hostname first, then
// LABEL.DOMAIN for each [tls] acme_domain_names label and each domain,
// when it resolves (the CA could not reach it otherwise; a name that
// resolves elsewhere is left out by acmecert after its validation fails).
func acmeNames(cfg *config.Config, st store.Directory, resolver *dns.Resolver, log *slog.Logger) func(context.Context) []string {
	return func(ctx context.Context) []string {
		out := []string{strings.ToLower(strings.TrimSuffix(cfg.Hostname, "."))}
		domains, err := st.ListDomains(ctx)
		if err != nil {
			log.Warn("acme: listing domains", "err", err)
		}
		for _, d := range domains {
			for _, label := range cfg.TLS.ACMEDomainNames {
				n := strings.ToLower(label + "." + d.Name)
				if slices.Contains(out, n) {
					continue
				}
				if _, err := resolver.LookupIP(ctx, n); err == nil {
					out = append(out, n)
				}
			}
		}
		return out
	}
}
