package main

import (
	"context"
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

	"pochta/internal/acmecert"
	"pochta/internal/dane"
	"pochta/internal/mtasts"
	"pochta/internal/store"
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
	certFile := cfg.TLS.CertFile
	if certFile == "" {
		certFile = filepath.Join(cfg.DataDir, "tls", "selfsigned.crt")
	}
	data, err := os.ReadFile(certFile)
	printCert(c.stdout, certFile, data, err)
	var entries []mtasts.CacheEntry
	err = withConfigStore(cfg, func(ctx context.Context, st store.Backend) error {
		if cfg.TLS.ACME { // kept in the store, shared by every node
			data, err := st.GetState(ctx, acmecert.StatePrefix+"cert.pem")
			printCert(c.stdout, "ACME (in the store)", data, err)
		}
		data, err := st.GetState(ctx, mtasts.StateName)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err == nil {
			entries, err = mtasts.ParseCache(data, mtasts.StateName)
		}
		return err
	})
	if err != nil {
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

// printCert prints the certificate read (data, err) from file.
func printCert(w io.Writer, file string, data []byte, err error) {
	if err != nil {
		if u := errors.Unwrap(err); u != nil {
			err = u
		}
		fmt.Fprintf(w, "certificate %s: none (%v)\n", file, err)
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
