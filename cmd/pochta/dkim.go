package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"log/slog"

	"pochta/internal/acmecert"
	"pochta/internal/app"
	"pochta/internal/config"
	"pochta/internal/dane"
	"pochta/internal/dkim"
	"pochta/internal/mtasts"
	"pochta/internal/store"
)

func (c *cli) dkimKeygen(args []string) error {
	fs := flag.NewFlagSet("dkim keygen", flag.ContinueOnError)
	selector := fs.String("selector", "pochta", "DKIM selector")
	algo := fs.String("algo", "ed25519", "ed25519 or rsa")
	cfg, d, err := domainCommand(fs, args)
	if err != nil {
		return err
	}
	var record string
	err = withConfigStore(cfg, func(ctx context.Context, st store.Backend) error {
		record, err = dkim.KeygenState(ctx, st, d, *selector, *algo) // in the store: every node signs with it
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, record)
	fmt.Fprintln(c.stdout, "(every node signs with it within a minute, or at once after SIGHUP)")
	return nil
}

// withConfigStore opens cfg's store, brings in what data_dir still holds
// (app.ImportLocalState), runs fn and closes the store.
func withConfigStore(cfg *config.Config, fn func(ctx context.Context, st store.Backend) error) error {
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	err = app.ImportLocalState(ctx, cfg, st, slog.New(slog.DiscardHandler))
	if err == nil {
		err = fn(ctx, st)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *cli) dnsRecords(args []string) error {
	fs := flag.NewFlagSet("dns records", flag.ContinueOnError)
	cfg, d, err := domainCommand(fs, args)
	if err != nil {
		return err
	}
	var signer *dkim.Signer
	var acmeCert []byte
	err = withConfigStore(cfg, func(ctx context.Context, st store.Backend) error {
		if cfg.TLS.ACME { // kept in the store, shared by every node
			acmeCert, _ = st.GetState(ctx, acmecert.StatePrefix+"cert.pem")
		}
		signer, err = dkim.LoadStateSigner(ctx, st)
		return err
	})
	if err != nil {
		return err
	}
	var records []string
	for _, k := range signer.Keys() {
		if k.Domain == d {
			records = append(records, k.Record())
		}
	}
	fmt.Fprint(c.stdout, dkim.Records(d, cfg.Hostname, cfg.Hostname, records))
	fmt.Fprintln(c.stdout)
	fmt.Fprint(c.stdout, mtasts.Published(cfg.TLS.MTASTSMode, cfg.Hostname).Records(d, cfg.Hostname))
	fmt.Fprintln(c.stdout)
	fmt.Fprint(c.stdout, tlsaRecord(cfg, acmeCert))
	return nil
}

// domainCommand parses the flags of a command that takes one DOMAIN and
// loads the configuration.
func domainCommand(fs *flag.FlagSet, args []string) (*config.Config, string, error) {
	load := configFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, "", err
	}
	if err := want(fs.Name(), pos, 1, "DOMAIN"); err != nil {
		return nil, "", err
	}
	cfg, _, err := load()
	if err != nil {
		return nil, "", err
	}
	d, err := normDomain(pos[0])
	return cfg, d, err
}

// tlsaRecord is the DANE-EE record (RFC 7672 §3.1.1) for the key of our
// certificate on port 25; it needs DNSSEC on the zone, and a key kept
// across renewals. With [tls] acme it is the ACME certificate's: acmecert
// keeps cert.key across renewals (only the certificate is reissued), so
// the "3 1 1" record (SPKI, SHA-256) stays valid. The configured files
// are the admin's to keep; the self-signed key lasts its ten years.
// acmeCert is the ACME certificate from the store (nil: none yet).
func tlsaRecord(cfg *config.Config, acmeCert []byte) string {
	certFile := cfg.TLS.CertFile
	if certFile == "" {
		certFile = filepath.Join(cfg.DataDir, "tls", "selfsigned.crt")
	}
	head := "; DANE (RFC 7672), only in a DNSSEC-signed zone, and only while the key is kept.\n"
	data, err := os.ReadFile(certFile)
	if cfg.TLS.ACME { // what port 25 serves once ACME has a certificate
		certFile, data, err = "the store's ACME certificate", acmeCert, nil
		if data == nil {
			err = os.ErrNotExist
		}
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
