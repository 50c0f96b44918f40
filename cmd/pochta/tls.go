package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"pochta/internal/config"
	"pochta/internal/dane"
	"pochta/internal/mtasts"
)

// tlsStatus prints each certificate pochta has (names, issuer, expiry,
// its TLSA record) and each recipient domain's cached MTA-STS policy.
func (c *cli) tlsStatus(args []string) error {
	fs := flag.NewFlagSet("tls status", flag.ContinueOnError)
	load := configFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := want("tls status", pos, 0, "no arguments"); err != nil {
		return err
	}
	cfg, _, err := load()
	if err != nil {
		return err
	}
	for _, f := range certFiles(cfg) {
		printCert(c.stdout, f)
	}
	entries, err := mtasts.ReadCache(cfg.MTASTSCacheFile())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(c.stdout, "MTA-STS policies of recipient domains: %d\n", len(entries))
	now := time.Now()
	for _, e := range entries {
		p, err := mtasts.Parse(e.Policy)
		if err != nil {
			continue
		}
		state := "valid until " + e.Expires.UTC().Format(time.RFC3339)
		if !now.Before(e.Expires) {
			state = "expired"
		}
		fmt.Fprintf(c.stdout, "  %s  mode %s  mx %s  id %s  %s\n", e.Domain, p.Mode, strings.Join(p.MX, " "), e.ID, state)
	}
	return nil
}

// certFiles lists the certificate files in use: the configured one (or
// the self-signed one) and the ACME one.
func certFiles(cfg *config.Config) []string {
	files := []string{cfg.TLS.CertFile}
	if cfg.TLS.CertFile == "" {
		files[0] = filepath.Join(cfg.DataDir, "tls", "selfsigned.crt")
	}
	if cfg.TLS.ACME {
		files = append(files, filepath.Join(cfg.ACMEDir(), "cert.pem"))
	}
	return files
}

func printCert(w io.Writer, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(w, "certificate %s: none (%v)\n", file, errors.Unwrap(err))
		return
	}
	b, _ := pem.Decode(data)
	if b == nil {
		fmt.Fprintf(w, "certificate %s: not PEM\n", file)
		return
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		fmt.Fprintf(w, "certificate %s: %v\n", file, err)
		return
	}
	left := time.Until(cert.NotAfter).Round(time.Hour)
	fmt.Fprintf(w, "certificate %s\n  names:   %s\n  issuer:  %s\n  expires: %s (in %s)\n  TLSA:    %s\n",
		file, strings.Join(cert.DNSNames, " "), cert.Issuer.String(), cert.NotAfter.UTC().Format(time.RFC3339), left, dane.Record(cert))
}
